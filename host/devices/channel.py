"""How the host reaches the agent's port on the device: the one place that knows the transport.

Today an ``adb forward`` from a free local port; closing the channel removes the forward.
"""

from __future__ import annotations

from dataclasses import dataclass

from host.devices.device import Device


@dataclass
class Channel:
    """A local address that reaches ``remote_port`` on the device, until closed."""

    device: Device
    remote_port: int
    local_port: int

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.local_port}"

    def close(self) -> None:
        self.device.remove_forward(self.local_port)


def open_channel(device: Device, remote_port: int) -> Channel:
    return Channel(device, remote_port, device.forward(remote_port))
