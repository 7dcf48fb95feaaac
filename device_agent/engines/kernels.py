"""A build the runtime has no kernel for, told apart from a runtime that broke.

An int4 build on an older tflite-runtime, or an op version newer than the runtime, is a fact
about the device's runtime and the build together: the cell is ``unavailable``, with the op and
the runtime named, not ``failed`` (which says something went wrong that a rerun could change).
The interpreter says so only in its error text; the two shapes it uses are matched here.
"""

from __future__ import annotations

import re

_NO_OP = re.compile(r"Didn't find op for builtin opcode '(\w+)' version '(\d+)'")
_PREPARE = re.compile(r"Node number \d+ \((\w+)\) failed to prepare")
_TYPE_CHECK = re.compile(r"->type == kTfLite\w+")
_TYPE_NAME = re.compile(r"kTfLite(\w+)")
_UNSUPPORTED_TYPE = re.compile(r"[Tt]ype (\w+) \(\d+\) (?:is )?not supported|Unsupported (?:data )?type:? (\w+)")


def missing_kernel(error: str, runtime: str) -> str | None:
    """Why ``runtime`` cannot run the build, when ``error`` says it lacks the kernel; else None."""
    found = _NO_OP.search(error)
    if found:
        return (
            f"{runtime} has no {found[1]} kernel of version {found[2]}: this build needs a runtime that has it "
            f"(a newer ai-edge-litert)"
        )
    found = _PREPARE.search(error)
    if found and _TYPE_CHECK.search(error):
        condition = error[: found.start()]
        taken = ", ".join(dict.fromkeys(t.lower() for t in _TYPE_NAME.findall(condition)))
        return (
            f"{runtime}'s {found[1]} kernel does not take this build's tensor type (it takes {taken}): "
            f"the build needs a runtime with that kernel (a newer ai-edge-litert)"
        )
    found = _UNSUPPORTED_TYPE.search(error)
    if found:
        return f"{runtime} does not support the build's {found[1] or found[2]} tensors"
    return None
