"""What the forkserver loads once, before it forks any worker: numpy, the worker module and the
TFLite runtime, found and imported, so that each cell's fresh process starts with them in memory.

Nothing here loads a delegate, an accelerator or LiteRT's ``libLiteRt.so``: those stay in the
workers. A runtime that cannot be imported is left for the worker to report in its cell's load
phase, with the reason.
"""

from __future__ import annotations

import contextlib

from device_agent.engines import runtime  # noqa: F401  (imported here so that every worker has it)

with contextlib.suppress(runtime.RuntimeMissing):
    runtime.find_runtime()
