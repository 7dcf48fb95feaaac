"""A local stand-in for a DeviceFarmer/STF server: its documented REST API over emulated phones.

A real STF needs RethinkDB, ZeroMQ and USB providers, which tests cannot run; this server
speaks the same endpoints, bodies and status codes (``GET /api/v1/devices``, ``POST/DELETE
/api/v1/user/devices``, ``POST/DELETE .../remoteConnect``, bearer tokens, 401/403/404 with a
``description``), and hands out the emulated phones' adbd addresses as ``remoteConnectUrl``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOKEN = "stf-test-token"


@dataclass
class FarmPhone:
    serial: str  # STF's own serial (the USB one), not the adb address
    connect_url: str  # what remoteConnect hands out: the phone's adbd, or a dead address (provider gone)
    owner: str | None = None
    present: bool = True
    fields: dict[str, Any] = field(
        default_factory=lambda: {
            "model": "Emulated phone",
            "manufacturer": "quantbench",
            "sdk": "34",
            "abi": "x86_64",
            "version": "14",
        }
    )

    def as_json(self, user: str) -> dict[str, Any]:
        return {
            "serial": self.serial,
            "present": self.present,
            "ready": self.present,
            "using": self.owner == user,
            "owner": {"email": self.owner} if self.owner else None,
            **self.fields,
        }


@dataclass
class Farm:
    phones: dict[str, FarmPhone]
    calls: list[tuple[str, str]] = field(default_factory=list)
    user: str = "ci@example.org"
    lock: threading.Lock = field(default_factory=threading.Lock)


class _FarmHandler(BaseHTTPRequestHandler):
    """DeviceFarmer's REST API (v1) over one Farm: list, reserve, remote-connect, release."""

    farm: Farm

    def log_message(self, *args: object) -> None: ...

    def _reply(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _route(self, method: str) -> None:
        self.farm.calls.append((method, self.path))
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._reply(401, {"success": False, "description": "Requires Authentication"})
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}") if length else {}
        parts = self.path.split("?")[0].strip("/").split("/")  # api v1 ...
        with self.farm.lock:
            return self._answer(method, parts[2:], body)

    def _answer(self, method: str, parts: list[str], body: dict[str, Any]) -> None:
        if method == "GET" and parts == ["devices"]:
            return self._reply(
                200, {"success": True, "devices": [p.as_json(self.farm.user) for p in self.farm.phones.values()]}
            )
        if parts[:2] != ["user", "devices"]:
            return self._reply(404, {"success": False, "description": "Not found"})
        serial = parts[2] if len(parts) > 2 else str(body.get("serial", ""))
        phone = self.farm.phones.get(serial)
        if phone is None:
            return self._reply(404, {"success": False, "description": "Device not found"})
        if method == "POST" and len(parts) == 2:
            if phone.owner or not phone.present:
                return self._reply(403, {"success": False, "description": "Device is being used or not available"})
            phone.owner = self.farm.user
            return self._reply(200, {"success": True, "description": "Device successfully added"})
        if phone.owner != self.farm.user:
            return self._reply(403, {"success": False, "description": "Device is not owned by you or is not available"})
        return self._owned(method, parts[3:], phone, serial)

    def _owned(self, method: str, rest: list[str], phone: Any, serial: str) -> None:
        """A request on a phone this user holds: remote connect, disconnect, release."""
        if method == "POST" and rest == ["remoteConnect"]:
            return self._reply(200, {"success": True, "remoteConnectUrl": phone.connect_url, "serial": serial})
        if method == "DELETE" and rest == ["remoteConnect"]:
            return self._reply(200, {"success": True, "description": "Device remote disconnected successfully"})
        if method == "DELETE" and not rest:
            phone.owner = None
            return self._reply(200, {"success": True, "description": "Device successfully removed"})
        return self._reply(404, {"success": False, "description": "Not found"})

    def do_GET(self) -> None:  # noqa: N802 - the http.server interface
        self._route("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._route("POST")

    def do_DELETE(self) -> None:  # noqa: N802
        self._route("DELETE")


def _handler(farm: Farm) -> type[BaseHTTPRequestHandler]:
    return type("Handler", (_FarmHandler,), {"farm": farm})


@contextmanager
def stf_server(farm: Farm) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(farm))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
