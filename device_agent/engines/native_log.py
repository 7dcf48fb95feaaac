"""What a native library printed on stderr while we called it, kept for the cell's reason.

LiteRT says which ops its GPU accelerator refused only in its log ("Following operations are not
supported by GPU delegate:", then ``OP: reason. tensors`` per node); its C API returns a bare
status. The worker's stderr (file descriptor 2) is sent to a temporary file around the call and
copied back to the real stderr after, so the agent's log still holds every line.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

REFUSED_HEADER = "Following operations are not supported"
_REFUSED_OP = re.compile(r"^([A-Z][A-Z0-9_]*): (.+?)(?:\. |\.$|$)")
_ERROR = re.compile(r"^E(?:RROR)?:?\s*(?:\[[^\]]*\]\s*)?(.*)$")
MAX_REASON = 300
MAX_LOG_BYTES = 1 << 20


@contextmanager
def captured_stderr() -> Iterator[list[str]]:
    """Yields a list that holds, after the block, the lines written to fd 2 during it."""
    lines: list[str] = []
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            data = sink.read(MAX_LOG_BYTES)
            os.write(2, data)
            lines.extend(data.decode("utf-8", "replace").splitlines())


def refused_ops(lines: list[str]) -> str:
    """``CONV_2D, MEAN: Tensor type(INT16) is not supported (28 nodes)`` from LiteRT's log, or ''."""
    try:
        start = next(i for i, line in enumerate(lines) if REFUSED_HEADER in line)
    except StopIteration:
        return ""
    by_reason: dict[str, list[str]] = {}
    for line in lines[start + 1 :]:
        found = _REFUSED_OP.match(line.strip())
        if not found:
            break
        ops = by_reason.setdefault(found.group(2), [])
        ops.append(found.group(1))
    parts = [
        f"{', '.join(sorted(set(ops)))}: {reason} ({len(ops)} node{'s' if len(ops) > 1 else ''})"
        for reason, ops in by_reason.items()
    ]
    return "; ".join(parts)


def first_error(lines: list[str]) -> str:
    """The log's first ERROR line without its source location, with the line after it where the
    message goes on there (OpenVINO's exceptions do); '' when the log has none."""
    for i, line in enumerate(lines):
        found = _ERROR.match(line.strip()) if line.startswith("ERROR") else None
        if not found or REFUSED_HEADER in line:
            continue
        text = found.group(1).strip()
        rest = next((other.strip() for other in lines[i + 1 : i + 3] if other.strip()), "")
        if text.endswith(":") and rest and not rest.startswith(("INFO", "WARNING", "ERROR")):
            text = f"{text} {rest}"
        return text[:MAX_REASON]
    return ""


def log_reason(lines: list[str]) -> str:
    """What the log says a compile refused: the ops LiteRT listed, else its first error."""
    return refused_ops(lines) or first_error(lines)
