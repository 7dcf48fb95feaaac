"""Benchmark: the emulated device's ADB path.

50 MB push through adbutils vs. the ``adb push`` command line on the same emulated device; unary
gRPC latency (Stat) and gRPC upload throughput through the session's channel (a relay over the
adb server's connection, what bench uses) vs. an ``adb forward`` vs. straight to the agent's port.
A private adb server on a free port is used and killed at the end.

    python tools/bench/adb_path.py [--mb 50] [--repeats 5] [--calls 300] [--smoke]

``--smoke`` (2 MB, one repeat, 20 calls, a 2 MB upload) proves it still works.

Last line: ``push_ratio=<adbutils MB/s / adb push MB/s> tunnel_latency_ratio=<tunnel / forward>
tunnel_throughput_ratio=<tunnel MB/s / forward MB/s> forward_latency_ratio=<forward / direct>``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from host.devices.agent.client import AgentClient  # noqa: E402
from host.devices.agent.session import open_session  # noqa: E402
from host.devices.transport.adb import adb_binary, private_server  # noqa: E402
from host.devices.transport.device import Device  # noqa: E402
from host.emulator import manager  # noqa: E402


def unary_ms(client: AgentClient, calls: int) -> float:
    client.stat("0" * 64)
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        client.stat("0" * 64)
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def upload_mbps(client: AgentClient, payload: Path, repeats: int) -> float:
    """gRPC upload of ``payload`` (a fresh name each time, so nothing is skipped)."""
    seconds = []
    for _ in range(repeats):
        payload.write_bytes(os.urandom(payload.stat().st_size))
        started = time.perf_counter()
        client.upload(payload)
        seconds.append(time.perf_counter() - started)
    return payload.stat().st_size / 1e6 / statistics.median(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--smoke", action="store_true", help="2 MB, one repeat, 20 calls: proves the benchmark works")
    args = parser.parse_args()
    upload_mb = 20
    if args.smoke:
        args.mb, args.repeats, args.calls, upload_mb = 2, 1, 20, 2
    binary = adb_binary()
    with tempfile.TemporaryDirectory(prefix="bench-adb-") as work, private_server(binary) as address:
        root = Path(work)
        os.environ["QUANTBENCH_DATA_DIR"] = str(root / "data")
        os.environ["QUANTBENCH_CACHE_DIR"] = str(root / "cache")
        payload = root / "payload.bin"
        payload.write_bytes(os.urandom(args.mb * 1024 * 1024))
        state = manager.start(
            address, 0, root / "sandbox", profile="shell-python"
        )  # the transport is measured, not Termux
        try:
            device = Device(address, state.serial)
            lib_s, cli_s = [], []
            for i in range(args.repeats):
                started = time.perf_counter()
                device.push_unchecked(payload, f"/data/local/tmp/lib{i}.bin")
                lib_s.append(time.perf_counter() - started)
                started = time.perf_counter()
                subprocess.run(
                    [
                        binary,
                        "-P",
                        str(address.port),
                        "-s",
                        state.serial,
                        "push",
                        str(payload),
                        f"/data/local/tmp/cli{i}.bin",
                    ],
                    check=True,
                    capture_output=True,
                )
                cli_s.append(time.perf_counter() - started)
            upload = root / "upload.bin"
            upload.write_bytes(os.urandom(upload_mb * 1024 * 1024))
            with open_session(device) as session, device.forwarded(session.agent.port) as port:
                token = session.agent.token
                with (
                    AgentClient(f"127.0.0.1:{port}", token) as forward_client,
                    AgentClient(f"127.0.0.1:{session.agent.port}", token) as direct_client,
                ):
                    tunnel, forwarded, direct = (
                        unary_ms(c, args.calls) for c in (session.client, forward_client, direct_client)
                    )
                    tunnel_mbps, forward_mbps = (
                        upload_mbps(c, upload, args.repeats) for c in (session.client, forward_client)
                    )
        finally:
            manager.stop_state(address, state)
    lib_mbps = args.mb / statistics.median(lib_s)
    cli_mbps = args.mb / statistics.median(cli_s)
    print(f"adb {binary}")
    print(f"push {args.mb} MB: adbutils {lib_mbps:.0f} MB/s, adb push {cli_mbps:.0f} MB/s (median of {args.repeats})")
    print(
        f"unary gRPC: tunnel {tunnel:.3f} ms, adb forward {forwarded:.3f} ms, direct {direct:.3f} ms (median of "
        f"{args.calls})"
    )
    print(
        f"gRPC upload {upload_mb} MB: tunnel {tunnel_mbps:.0f} MB/s, adb forward {forward_mbps:.0f} MB/s (median of "
        f"{args.repeats})"
    )
    print(
        f"push_ratio={lib_mbps / cli_mbps:.3f} tunnel_latency_ratio={tunnel / forwarded:.3f} "
        f"tunnel_throughput_ratio={tunnel_mbps / forward_mbps:.3f} forward_latency_ratio={forwarded / direct:.3f}"
    )


if __name__ == "__main__":
    main()
