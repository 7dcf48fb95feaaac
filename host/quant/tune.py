"""Find, on the device and its backend, the fewest layers to keep in float for an accuracy target.

The search follows Intel Neural Compressor's basic strategy, measured where it matters:

1. rank the quantized ops by the debugger's per-channel error (``debug.layer_errors``);
2. try the worst ``candidates`` alone on the device, and each adjacent pair of them (a tensor's
   producer and its consumer) together: an outlier tensor can only be repaired by keeping both
   the op that makes it and the op that reads it, so every single fallback may show no gain;
3. fall back cumulatively in order of measured gain (the debugger's rank breaks ties) until the
   target holds, never stopping because the single fallbacks showed nothing;
4. drop again, one at a time, every kept layer the target does not need.

Every candidate is a build benched like any other (``host bench`` on a folder of builds), so
its accuracy, latency and size are stored as a run; ``tune.json`` in the output folder lists
them, written again as each candidate's cell finishes, and a second ``host tune`` with the same
inputs measures only what is missing (after Ctrl-C too: the message names the command). The
device time spent is counted, and no new candidate starts once ``--budget`` is spent.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from host.codec import JsonObject
from host.convert import tfenv
from host.convert.graph import neighbours
from host.convert.inputs import resolve_inputs
from host.convert.records import CalibrationInfo, ConversionReport, ConvertedModel, ModeResult, manifest
from host.convert.selective import KeepFloat, variant_name
from host.errors import BenchInterrupted, InputError
from host.fsio import atomic_write
from host.quant.debug import LayerError
from host.quant.device_time import DeviceTime, from_store, layer_shares
from host.quant.inputs import QuantInputs, load_inputs, quant_request
from host.quant.options import TuneOptions
from host.quant.resumable import Measure, ResumableSearch
from host.quant.tune_resume import device_measure, interrupted
from host.results import CellRecord

if TYPE_CHECKING:
    from host.bench.cells import BenchListener
    from host.store.location import StoreLocation

REFERENCE = "none"
BASE = "integer"
TuneStep = Literal["reference", "base", "single", "pair", "cumulative", "prune"]  # which step of the search made it


@dataclass
class Candidate:
    """One build the search measured: what it keeps in float, and what the device said."""

    name: str
    keep: tuple[str, ...]  # op tensors (denylisted nodes)
    layers: tuple[str, ...]  # their Keras layer names, for people
    step: TuneStep
    sha256: str = ""
    size_bytes: int = 0
    top1: float | None = None  # percent
    p50_ms: float | None = None
    run_id: str = ""
    error: str = ""

    @property
    def key(self) -> str:
        """Its name in tune.json and its file in ``candidates/``: by what it keeps, whatever step made it."""
        return REFERENCE if self.step == "reference" else _key(self.keep)

    @property
    def measured(self) -> bool:
        return bool(self.run_id) and (self.top1 is not None or bool(self.error))


@dataclass
class TuneResult:
    target: float  # percent top-1 the tuned build must reach
    reference: Candidate
    base: Candidate
    chosen: Candidate
    candidates: list[Candidate]
    met: bool
    stopped: str  # why the search ended
    device_seconds: float
    ranked: list[LayerError] = field(default_factory=list)
    out: Path | None = None
    device_time: DeviceTime | None = None  # the integer build's per-op profile by layer (None: resumed, not rerun)

    def layer_costs(self) -> list[tuple[str, float | None, int]]:
        """Each kept layer's own price: latency and size of its single fallback over the base build."""
        singles = {c.layers[0]: c for c in self.candidates if c.step == "single" and c.layers}
        costs = []
        for layer in self.chosen.layers:
            single = singles.get(layer)
            latency = (
                (single.p50_ms - self.base.p50_ms)
                if single and single.p50_ms is not None and self.base.p50_ms is not None
                else None
            )
            costs.append((layer, latency, (single.size_bytes - self.base.size_bytes) if single else 0))
        return costs


def _key(keep: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(sorted(keep)).encode()).hexdigest()[:12] if keep else "base"


def candidate_name(layers: Sequence[str]) -> str:
    return "keep:" + "+".join(layers) if layers else BASE


def _revive(value: JsonObject) -> Candidate:
    return Candidate(**{**value, "keep": tuple(value["keep"]), "layers": tuple(value["layers"])})


class _Search(ResumableSearch[Candidate]):
    """One tune: float layer sets as candidates, and the integer build's share of device time per layer."""

    def __init__(
        self,
        options: TuneOptions,
        inputs: QuantInputs,
        measure: Measure,
        identity: Mapping[str, object],
        on_step: Callable[[str], None],
    ) -> None:
        super().__init__(Path(options.out), identity, measure, options.budget * 60, on_step, "candidates", _revive)
        self.options, self.inputs = options, inputs
        self.layer_of = {op.tensor: op.layer for op in inputs.calibrated.ops}
        self.base_time: DeviceTime | None = None  # the integer build's layers' shares of the device time

    def candidate(self, keep: Sequence[str], step: TuneStep) -> Candidate:
        """The candidate keeping ``keep`` in float, built now (cheap) and measured later."""
        keep = tuple(dict.fromkeys(keep))
        layers = tuple(self.layer_of.get(t, t) for t in keep)
        fresh = Candidate(REFERENCE if step == "reference" else candidate_name(layers), keep, layers, step)
        data = (
            self.inputs.float_model()
            if step == "reference"
            else self.inputs.calibrated.build(KeepFloat(keep, nodes=keep))
        )
        return self.known_or_written(fresh, data)

    def measure(self, wanted: list[Candidate]) -> None:
        self.run(
            wanted,
            self.options.backend,
            self.inputs.source.name,
            lambda c: {"path": f"{c.key}.tflite", "variant_of": BASE},
        )

    def taken(self, candidate: Candidate, cell: CellRecord | None, run_id: str) -> None:
        super().taken(candidate, cell, run_id)
        if candidate.step == "base" and cell is not None:
            self.base_time = layer_shares(cell)


def _units(ranked: list[LayerError], count: int, consumers: dict[str, tuple[str, ...]]) -> list[tuple[str, ...]]:
    """The worst ``count`` ops alone, then each producer/consumer pair among them."""
    top = [e.tensor for e in ranked[:count]]
    singles: list[tuple[str, ...]] = [(t,) for t in top]
    return singles + [(a, b) for a in top for b in consumers.get(a, ()) if b in top]


def search(
    options: TuneOptions,
    inputs: QuantInputs,
    ranked: list[LayerError],
    measure: Measure,
    identity: Mapping[str, object],
    on_step: Callable[[str], None] = lambda text: None,
) -> TuneResult:
    s = _Search(options, inputs, measure, identity, on_step)
    reference, base = s.candidate((), "reference"), s.candidate((), "base")
    units = _units(ranked, options.candidates, neighbours(inputs.calibrated.ops))
    probes = [s.candidate(unit, "single" if len(unit) == 1 else "pair") for unit in units]
    s.measure([reference, base, *probes])
    if reference.top1 is None:
        raise InputError(f"the float build gave no accuracy on {options.backend}: {reference.error}")
    target = reference.top1 - options.max_accuracy_drop
    meets: Callable[[Candidate], bool] = lambda c: c.top1 is not None and c.top1 >= target - 1e-9
    rank_of = {e.tensor: i for i, e in enumerate(ranked)}
    order = sorted(
        zip(units, probes, strict=True),
        key=lambda up: (-((up[1].top1 or 0.0) - (base.top1 or 0.0)), min(rank_of[t] for t in up[0])),
    )
    chosen, stopped = base, "the integer build already meets the target"
    if not meets(base):
        chosen, stopped = _cumulative(s, order, meets)
    if meets(chosen) and chosen is not base:
        chosen = _prune(s, chosen, meets)
    result = TuneResult(
        target,
        reference,
        base,
        chosen,
        list(s.by_key.values()),
        meets(chosen),
        stopped,
        s.spent,
        ranked,
        s.out,
        s.base_time,
    )
    s.save({"target": target, "chosen": chosen.name, "met": result.met, "stopped": stopped})
    return result


def _cumulative(
    s: _Search, order: list[tuple[tuple[str, ...], Candidate]], meets: Callable[[Candidate], bool]
) -> tuple[Candidate, str]:
    kept: list[str] = []
    best: Candidate | None = None
    for unit, probe in order:
        if meets(probe) and len(probe.keep) <= len(kept) + len(unit):
            return probe, "target met"
        kept += [t for t in unit if t not in kept]
        if not s.budget_left():
            return best or probe, "budget spent before the target was met"
        step = s.candidate(kept, "cumulative")
        s.measure([step])
        if best is None or (step.top1 or 0) > (best.top1 or 0):
            best = step
        if meets(step):
            return step, "target met"
    return best or s.by_key["base"], f"not met with the {len(order)} fallbacks tried: raise --candidates"


def _prune(s: _Search, chosen: Candidate, meets: Callable[[Candidate], bool]) -> Candidate:
    """Drop each kept op the target does not need (the latest added first)."""
    for tensor in reversed(chosen.keep):
        if len(chosen.keep) == 1 or not s.budget_left():
            break
        trial = s.candidate([t for t in chosen.keep if t != tensor], "prune")
        s.measure([trial])
        if meets(trial):
            chosen = trial
    return chosen


def _labelled_dataset(dataset: Path | None) -> tuple[Path, int]:
    """The dataset tune measures top-1 on, and how many samples it holds; refused without labels."""
    from host.data.images import list_images
    from host.data.tensors import TensorSamples, is_tensor_data, label_of

    if dataset is None:
        raise InputError("pass --dataset DIR: labelled images whose accuracy is measured on the device")
    samples = TensorSamples(dataset) if is_tensor_data(dataset) else None
    if samples is not None and label_of(samples.sample(0), str(dataset)) < 0:
        raise InputError(
            f"host tune reaches a top-1 target measured on labelled data; {dataset} has no 'label' array per "
            "sample: add one, or bench the modes (host bench) and debug one (host debug)"
        )
    return dataset, samples.count if samples else len(list_images(dataset).entries)


def tune_command(options: TuneOptions, db: StoreLocation, listener: BenchListener) -> TuneResult:
    """Calibrate, rank, search on the device, and write the tuned build folder."""

    resolved = resolve_inputs(
        quant_request(
            options.model, options.weights, options.calibration, options.dataset, options.preset, options.labels
        )
    )
    dataset, images = _labelled_dataset(resolved.dataset)
    for note in resolved.notes:
        listener.stage(note)
    listener.stage("calibrating and ranking layers by quantization error")
    inputs = load_inputs(resolved, options.calibration_count)
    ranked = inputs.rank(inputs.calibration)
    measure = device_measure(options, inputs.preset, dataset, db, listener)

    identity = {
        "model": inputs.source.sha256,
        "calibration": inputs.calibration.sha256,
        "dataset": str(Path(dataset).resolve()),
        "images": images,
        "limit": options.limit,
        "backend": options.backend,
        "device": list(options.device),
        "converter": tfenv.converter_version(),
    }
    try:
        result = search(options, inputs, ranked, measure, identity, listener.stage)
    except BenchInterrupted:
        raise interrupted(options, db) from None
    if result.device_time is None and result.base.run_id:
        result.device_time = from_store(db, result.base.run_id, result.base.name, options.backend)
    write_build(result, inputs, Path(options.out))
    return result


def write_build(result: TuneResult, inputs: QuantInputs, out: Path) -> None:
    """A host convert-style folder: none, integer, and the tuned variant, with its manifest."""
    picks: list[tuple[str, Candidate, str | None]] = [(REFERENCE, result.reference, None), (BASE, result.base, None)]
    if result.chosen is not result.base:
        picks.append((variant_name(KeepFloat(result.chosen.layers)), result.chosen, BASE))
    results = []
    for mode, candidate, variant_of in picks:
        data = (out / "candidates" / f"{candidate.key}.tflite").read_bytes()
        atomic_write(out / f"{mode}.tflite", data)
        results.append(
            ModeResult(
                mode,
                True,
                path=str(out / f"{mode}.tflite"),
                size_bytes=len(data),
                sha256=candidate.sha256,
                input_dtype="float32",
                output_dtype="float32",
                variant_of=variant_of,
                keep_float=candidate.layers if variant_of else (),
                float_layers=candidate.layers if variant_of else (),
                notes=(f"tuned on the device: top-1 {candidate.top1}% (target {result.target:.2f}%)",)
                if variant_of
                else (),
            )
        )
    source = inputs.source
    report = ConversionReport(
        model=ConvertedModel(
            source.name,
            source.kind,
            source.sha256,
            str(source.path) if source.path else None,
            inputs.model.inputs()[0].shape,
            inputs.preset,
        ),
        results=tuple(results),
        calibration=CalibrationInfo(
            inputs.calibration.count, inputs.calibration.sha256, len(inputs.calibration.skipped)
        ),
    )
    atomic_write(out / "manifest.json", json.dumps(manifest(report), indent=2).encode())
