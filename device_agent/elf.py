"""The two facts this project reads from a shared library without loading it: its machine and
the libraries it needs. Loading untrusted code to ask would run it; reading the header does not.
"""

from __future__ import annotations

import struct

MACHINES = {3: "x86", 40: "arm", 62: "x86_64", 183: "aarch64"}
ABI_MACHINE = {"arm64-v8a": "aarch64", "armeabi-v7a": "arm", "x86_64": "x86_64", "x86": "x86"}
DT_NEEDED, DT_STRTAB = 1, 5


class NotElf(ValueError):
    """The file is not an ELF shared library this reader understands."""


def _header(data: bytes) -> tuple[str, str]:
    if data[:4] != b"\x7fELF" or data[4] not in (1, 2) or data[5] not in (1, 2):
        raise NotElf("not an ELF file")
    return ("<" if data[5] == 1 else ">"), ("Q" if data[4] == 2 else "I")


def machine(data: bytes) -> str:
    """``aarch64``, ``x86_64``, ... from the header's e_machine."""
    order, _ = _header(data)
    (number,) = struct.unpack_from(order + "H", data, 18)
    return MACHINES.get(number, f"machine {number}")


def needed(data: bytes) -> list[str]:
    """The DT_NEEDED sonames of a 64-bit library (what the loader will look for), in order."""
    order, word = _header(data)
    if word != "Q":
        return []
    phoff, = struct.unpack_from(order + "Q", data, 32)
    phentsize, phnum = struct.unpack_from(order + "HH", data, 54)
    loads, dynamic = [], None
    for i in range(phnum):
        p_type, _, p_offset, p_vaddr, _, p_filesz = struct.unpack_from(order + "IIQQQQ", data, phoff + i * phentsize)
        if p_type == 1:
            loads.append((p_vaddr, p_offset, p_filesz))
        elif p_type == 2:
            dynamic = (p_offset, p_filesz)
    if dynamic is None:
        return []
    entries = [struct.unpack_from(order + "qQ", data, dynamic[0] + i) for i in range(0, dynamic[1], 16)]
    strtab = next((value for tag, value in entries if tag == DT_STRTAB), None)
    if strtab is None:
        return []
    base = next((off + strtab - vaddr for vaddr, off, size in loads if vaddr <= strtab < vaddr + size), strtab)
    names = []
    for tag, value in entries:
        if tag == DT_NEEDED:
            start = base + value
            names.append(data[start:data.index(b"\0", start)].decode(errors="replace"))
    return names
