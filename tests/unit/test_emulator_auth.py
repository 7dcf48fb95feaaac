"""The emulated device's ADB authentication: adb's key format and PKCS#1 v1.5 signatures."""

from __future__ import annotations

import base64
import struct

from emulated_device.auth import _SHA1_DIGEST_INFO, PublicKey, load_keys, parse_public_key, verify

# A toy RSA key from two Mersenne primes (real adb keys are 2048-bit; the arithmetic is the same).
P, Q, E = 2**521 - 1, 2**607 - 1, 65537
N = P * Q
D = pow(E, -1, (P - 1) * (Q - 1))


def adb_public_key(modulus: int, exponent: int, comment: str = "me@desk") -> str:
    words = (modulus.bit_length() + 31) // 32
    blob = (
        struct.pack("<II", words, 0)
        + modulus.to_bytes(4 * words, "little")
        + bytes(4 * words)
        + struct.pack("<I", exponent)
    )
    return base64.b64encode(blob).decode() + " " + comment


def adb_signature(token: bytes) -> bytes:
    size = (N.bit_length() + 7) // 8
    payload = _SHA1_DIGEST_INFO + token
    padded = b"\x00\x01" + b"\xff" * (size - len(payload) - 3) + b"\x00" + payload
    return pow(int.from_bytes(padded, "big"), D, N).to_bytes(size, "big")


def test_a_key_in_adb_format_parses_back():
    key = parse_public_key(adb_public_key(N, E))
    assert key == PublicKey(N, E, "me@desk")


def test_only_the_trusted_key_s_signature_of_this_token_verifies():
    key = parse_public_key(adb_public_key(N, E))
    token = bytes(range(20))
    assert verify(token, adb_signature(token), key)
    assert not verify(bytes(20), adb_signature(token), key), "a signature of another token"
    other = PublicKey(N + 2, E)
    assert not verify(token, adb_signature(token), other), "another key"
    assert not verify(token, b"\x00" * 10, key)


def test_unreadable_or_malformed_key_files_trust_nothing(tmp_path):
    (tmp_path / "good.pub").write_text(adb_public_key(N, E) + "\n")
    (tmp_path / "bad.pub").write_text("not a key at all\n")
    assert load_keys([tmp_path / "good.pub", tmp_path / "bad.pub", tmp_path / "missing.pub"]) == [
        PublicKey(N, E, "me@desk")
    ]
