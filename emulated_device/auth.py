"""ADB's RSA authentication, device side: only a host whose key this device trusts gets in.

A phone answers a new host's CNXN with AUTH(TOKEN, 20 random bytes); the host signs the token
with its private key (``~/.android/adbkey``: PKCS#1 v1.5, the token taken as a SHA-1 digest) and
sends AUTH(SIGNATURE). A signature that verifies against a trusted public key is answered with
CNXN; anything else gets a new token, and when the host then offers its public key the phone
would ask its user, which this device never does: the host stays ``unauthorized``.

Public keys use adb's format (``adbkey.pub``): base64 of a little-endian struct (modulus size in
32-bit words, n0inv, modulus, R^2, exponent) followed by ``user@host``.
"""

from __future__ import annotations

import base64
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from emulated_device.errors import EmulatedDeviceError

TOKEN_SIZE = 20
_SHA1_DIGEST_INFO = bytes.fromhex("3021300906052b0e03021a05000414")


@dataclass(frozen=True)
class PublicKey:
    modulus: int
    exponent: int
    comment: str = ""


class KeyFormatError(EmulatedDeviceError, ValueError):
    """Text that is not an adb public key."""


def parse_public_key(text: str) -> PublicKey:
    """An ``adbkey.pub`` line as modulus and exponent."""
    encoded, _, comment = text.strip().partition(" ")
    try:
        blob = base64.b64decode(encoded, validate=True)
    except ValueError as e:
        raise KeyFormatError(f"not base64: {e}") from e
    if len(blob) < 8:
        raise KeyFormatError("too short for an adb public key")
    words = struct.unpack_from("<I", blob)[0]
    size = 4 * words
    if len(blob) != 8 + 2 * size + 4:
        raise KeyFormatError(f"{len(blob)} bytes, expected {8 + 2 * size + 4} for a {32 * words}-bit key")
    modulus = int.from_bytes(blob[8 : 8 + size], "little")
    exponent = struct.unpack_from("<I", blob, 8 + 2 * size)[0]
    return PublicKey(modulus, exponent, comment)


def verify(token: bytes, signature: bytes, key: PublicKey) -> bool:
    """Whether ``signature`` is the PKCS#1 v1.5 SHA-1 signature adb makes of ``token`` with ``key``."""
    size = (key.modulus.bit_length() + 7) // 8
    if len(signature) != size:
        return False
    message = pow(int.from_bytes(signature, "big"), key.exponent, key.modulus).to_bytes(size, "big")
    payload = _SHA1_DIGEST_INFO + token
    expected = b"\x00\x01" + b"\xff" * (size - len(payload) - 3) + b"\x00" + payload
    return message == expected


def user_key_path() -> Path:
    """Where this user's adb keeps its key pair (as adb itself looks for it)."""
    for variable, suffix in (("ANDROID_USER_HOME", ""), ("ANDROID_SDK_HOME", ".android")):
        if os.environ.get(variable):
            return Path(os.environ[variable]) / suffix / "adbkey.pub"
    return Path.home() / ".android" / "adbkey.pub"


def load_keys(paths: list[Path]) -> list[PublicKey]:
    """The trusted keys from these files (one key per line); unreadable or malformed lines skipped."""
    keys = []
    for path in paths:
        try:
            lines = path.read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            try:
                keys.append(parse_public_key(line))
            except KeyFormatError:
                continue
    return keys
