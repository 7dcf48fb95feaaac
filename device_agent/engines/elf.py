"""The facts this project reads from a shared library without loading it: its machine, the
libraries it needs, and the symbols it exports. Loading untrusted code to ask would run it;
reading the file does not. A file too short or too odd to be one is ``NotElf``, never an
unpacking error.
"""

from __future__ import annotations

import struct

MACHINES = {3: "x86", 40: "arm", 62: "x86_64", 183: "aarch64"}
ABI_MACHINE = {"arm64-v8a": "aarch64", "armeabi-v7a": "arm", "x86_64": "x86_64", "x86": "x86"}
DT_NEEDED, DT_STRTAB = 1, 5


class NotElf(ValueError):
    """The file is not an ELF shared library this reader understands."""


SHT_DYNSYM = 11
HEADER_BYTES = 64


def _header(data: bytes) -> tuple[str, str]:
    if len(data) < 52 or data[:4] != b"\x7fELF" or data[4] not in (1, 2) or data[5] not in (1, 2):
        raise NotElf("not an ELF file" if data[:4] != b"\x7fELF" else f"an ELF header cut short ({len(data)} bytes)")
    return ("<" if data[5] == 1 else ">"), ("Q" if data[4] == 2 else "I")


def exports(data: bytes) -> set[str]:
    """The names a shared library defines in its dynamic symbol table (what ``dlsym`` finds)."""
    order, word = _header(data)
    wide = word == "Q"
    try:
        shoff = struct.unpack_from(order + word, data, 40 if wide else 32)[0]
        shentsize, shnum = struct.unpack_from(order + "HH", data, 58 if wide else 46)
        layout = order + ("IIQQQQIIQQ" if wide else "IIIIIIIIII")
        sections = [struct.unpack_from(layout, data, shoff + i * shentsize) for i in range(shnum)]
        found: set[str] = set()
        for section in sections:
            if section[1] != SHT_DYNSYM:
                continue
            offset, size, link = section[4], section[5], section[6]
            strings = sections[link][4]
            entry, sym = (24, order + "IBBHQQ") if wide else (16, order + "IIIBBH")
            for at in range(offset, offset + size, entry):
                fields = struct.unpack_from(sym, data, at)
                name, shndx = fields[0], fields[3] if wide else fields[5]
                if name and shndx:
                    found.add(data[strings + name : data.index(b"\0", strings + name)].decode(errors="replace"))
        return found
    except (struct.error, IndexError, ValueError) as e:
        raise NotElf(f"its section or symbol tables are damaged ({e})") from e


def machine(data: bytes) -> str:
    """``aarch64``, ``x86_64``, ... from the header's e_machine (``data``: at least its first 52 bytes)."""
    order, _ = _header(data)
    (number,) = struct.unpack_from(order + "H", data, 18)
    return MACHINES.get(number, f"machine {number}")


def needed(data: bytes) -> list[str]:
    """The DT_NEEDED sonames of a 64-bit library (what the loader will look for), in order."""
    order, word = _header(data)
    if word != "Q":
        return []
    (phoff,) = struct.unpack_from(order + "Q", data, 32)
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
            names.append(data[start : data.index(b"\0", start)].decode(errors="replace"))
    return names
