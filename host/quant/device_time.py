"""Each layer's share of the device's invoke, from a cell's per-op profile: what ``host debug
--device`` and ``host tune`` print beside a layer's signal lost, so a user sees what keeping a
layer in float will cost before tuning (``block7_project: 98% signal lost, 3% of cpu1 time``).
"""

from __future__ import annotations

import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from host.quant.options import DebugOptions
from host.results import CellRecord, RunRecord

if TYPE_CHECKING:
    from host.bench.cells import BenchListener
    from host.store.location import StoreLocation


@dataclass(frozen=True)
class DeviceTime:
    """The layers' shares of one cell's profiled invoke, or why there are none."""

    backend: str
    shares: dict[str, float] = field(default_factory=dict)
    note: str = ""

    def share(self, layer: str) -> str:
        value = self.shares.get(layer)
        return "-" if value is None else f"{value:.0%}"

    def describe(self, layer: str) -> str:
        return "-" if layer not in self.shares else f"{self.share(layer)} of {self.backend} time"


def layer_shares(cell: CellRecord) -> DeviceTime:
    """The share of the invoke each attributed layer took, summed over its nodes."""
    profile = cell.result.op_profile
    if profile is None or not profile.ops or profile.invoke_ms <= 0:
        note = profile.note if profile and profile.note else "the device returned no per-op profile for this cell"
        return DeviceTime(cell.backend, note=note)
    if len(cell.op_layers) != len(profile.ops) or not any(cell.op_layers):
        return DeviceTime(cell.backend, note="the profiled nodes could not be matched to Keras layers")
    shares: dict[str, float] = defaultdict(float)
    for op, layer in zip(profile.ops, cell.op_layers, strict=True):
        if layer:
            shares[layer] += op.total_ms / profile.invoke_ms
    return DeviceTime(cell.backend, dict(shares))


def from_run(run: RunRecord, mode: str, backend: str) -> DeviceTime:
    cell = next((c for c in run.cells if c.mode == mode and c.backend == backend and c.ok), None)
    if cell is None:
        failed = next((c for c in run.cells if c.mode == mode and c.backend == backend), None)
        return DeviceTime(
            backend, note=f"the {mode} build did not run on {backend}: {failed.result.error if failed else 'no cell'}"
        )
    return layer_shares(cell)


def measure_build(build: bytes, options: DebugOptions, db: StoreLocation, listener: BenchListener) -> DeviceTime:
    """Bench the integer ``build`` as it is on ``options.backend`` of the device (latency and the
    per-op pass, no evaluation) and read its layers' shares; the run is stored like any other."""
    from host.bench.config import BenchConfig
    from host.bench.run import run_bench

    with tempfile.TemporaryDirectory(prefix="quantbench-debug-") as work:
        path = Path(work) / "integer.tflite"
        path.write_bytes(build)
        config = BenchConfig.of(
            model=str(path),
            backends=options.backend,
            op_profile=True,
            device=options.device,
            adb_server=options.adb_server,
        )
        run = run_bench(config, db, listener)
    return from_run(run, "integer", options.backend)


def from_store(db: StoreLocation, run_id: str, mode: str, backend: str) -> DeviceTime:
    """The shares from a stored run (a resumed tune measures its integer build again never)."""
    from host.errors import HostError
    from host.store import read_run

    try:
        return from_run(read_run(run_id, db), mode, backend)
    except HostError as e:
        return DeviceTime(backend, note=f"the integer build's run {run_id} cannot be read back: {e}")
