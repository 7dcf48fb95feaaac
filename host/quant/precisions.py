"""``host tune --precisions float,int8,int4``: a weight precision per layer, chosen on the device.

On LiteRT's quantizer route every op's weights can be int4, int8 or float (a recipe entry per
op). The search starts from every layer at the lowest precision listed and raises only what the
accuracy target needs, measured on the device like any build:

1. rank the weighted ops by the error the lowest precision makes in their weights (per-channel
   symmetric rounding, on the host: cheap, and what the device's numbers would blame first);
2. bench the float reference and the all-lowest build; if the latter meets the target, done;
3. raise the worst ops one precision step in growing groups (1, 2, 4, ... worst), then, if
   every op at the next precision is still short, the next step again, until the target holds;
4. try lowering each raised op back, one at a time, keeping what the target does not need.

Every candidate is a build in ``candidates/`` benched as a folder of builds; ``tune.json``
holds each one measured (by its per-op plan), so a second run with the same inputs measures only
what is missing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from host.codec import JsonObject
from host.convert.graph import GraphOp
from host.convert.inspect import WEIGHT_OPS
from host.errors import InputError
from host.quant.resumable import Measure, ResumableSearch

PRECISIONS = ("int4", "int8", "float")  # lowest first
BITS = {"int4": 4, "int8": 8}


def parse_precisions(text: str) -> tuple[str, ...]:
    """``float,int8,int4`` in any order, lowest first; at least two, each known."""
    names = [p.strip() for p in text.split(",") if p.strip()]
    unknown = [p for p in names if p not in PRECISIONS]
    if unknown or len(set(names)) < 2:
        raise InputError(f"--precisions takes two or more of {', '.join(PRECISIONS)} (got {text!r})")
    return tuple(p for p in PRECISIONS if p in names)


PlanStep = Literal["reference", "lowest", "raise", "lower"]  # which step of the search made it


@dataclass
class Plan:
    """One candidate: each ranked op's precision (the rest at the lowest), and what the device said."""

    name: str
    precisions: dict[str, str]  # op output tensor -> precision, for ops above the lowest
    step: PlanStep
    sha256: str = ""
    size_bytes: int = 0
    top1: float | None = None
    p50_ms: float | None = None
    error: str = ""
    run_id: str = ""

    @property
    def key(self) -> str:
        if self.step == "reference":
            return "reference"
        text = "\n".join(f"{t}={p}" for t, p in sorted(self.precisions.items()))
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    @property
    def measured(self) -> bool:
        return self.top1 is not None or bool(self.error)


@dataclass
class PrecisionResult:
    target: float
    lowest: str
    reference: Plan
    chosen: Plan
    plans: list[Plan]
    met: bool
    stopped: str
    layers: list[tuple[str, str]] = field(default_factory=list)  # (layer, precision) for every ranked op
    device_seconds: float = 0.0


def weight_error(float_model: bytes, ops: Sequence[GraphOp], bits: int) -> dict[str, float]:
    """Relative error ``|w - q(w)| / |w|`` of each weighted op's weights at ``bits`` (per output
    channel, symmetric), from the float model's own tensors."""
    from ai_edge_litert.interpreter import Interpreter

    from host.convert.tfenv import silenced

    with silenced():  # the interpreter's native "INFO:" line
        interpreter = Interpreter(model_content=float_model)
        interpreter.allocate_tensors()
    index = {t["name"]: t["index"] for t in interpreter.get_tensor_details()}
    errors: dict[str, float] = {}
    levels = 2 ** (bits - 1) - 1
    for op in ops:
        if op.op_type not in WEIGHT_OPS or len(op.inputs) < 2 or op.inputs[1] not in index:
            continue
        weights = np.asarray(interpreter.get_tensor(index[op.inputs[1]]), dtype=np.float64)
        axis = weights.ndim - 1 if op.op_type == "DEPTHWISE_CONV_2D" else 0
        reduce = tuple(i for i in range(weights.ndim) if i != axis)
        scale = np.maximum(np.abs(weights).max(axis=reduce, keepdims=True), 1e-12) / levels
        rounded = np.clip(np.round(weights / scale), -levels, levels) * scale
        errors[op.tensor] = float(np.linalg.norm(weights - rounded) / max(np.linalg.norm(weights), 1e-12))
    return errors


def recipe(lowest: str, precisions: dict[str, str]) -> list[JsonObject]:
    """The quantizer's recipe for a plan: every op at ``lowest``, the listed ops at theirs."""

    def entry(regex: str, precision: str) -> JsonObject:
        if precision == "float":
            return {"regex": regex, "operation": "*", "algorithm_key": "no_quantize"}
        return {
            "regex": regex,
            "operation": "*",
            "algorithm_key": "min_max_uniform_quantize",
            "op_config": {
                "weight_tensor_config": {
                    "num_bits": BITS[precision],
                    "symmetric": True,
                    "granularity": "CHANNELWISE",
                    "dtype": "INT",
                },
                "compute_precision": "INTEGER",
                "explicit_dequantize": False,
                "skip_checks": False,
                "min_weight_elements": 0,
            },
        }

    import re

    # the quantizer matches an op by its output names joined by ";" with a trailing ";"
    return [entry(".*", lowest)] + [entry(f"^{re.escape(tensor)};", p) for tensor, p in sorted(precisions.items())]


class PrecisionSearch(ResumableSearch[Plan]):
    """Precision plans as candidates: each built by the quantizer from the float model."""

    def __init__(
        self,
        float_model: bytes,
        lowest: str,
        out: Path,
        measure: Measure,
        identity: Mapping[str, object],
        budget_s: float,
        on_step: Callable[[str], None],
    ) -> None:
        super().__init__(out, identity, measure, budget_s, on_step, "plans", lambda value: Plan(**value))
        self.float_model, self.lowest = float_model, lowest

    def plan(self, precisions: dict[str, str], step: PlanStep, name: str) -> Plan:
        from host.convert.quantizer_route import quantize_with

        fresh = Plan(name, dict(precisions), step)
        data = (
            self.float_model
            if step == "reference"
            else quantize_with(self.float_model, recipe(self.lowest, precisions))
        )
        return self.known_or_written(fresh, data)

    def measure(self, wanted: list[Plan], backend: str) -> None:
        self.run(wanted, backend, "tune", lambda p: {"path": f"{p.key}.tflite"})


def search(
    s: PrecisionSearch,
    ranked: list[str],
    precisions: tuple[str, ...],
    backend: str,
    max_drop: float,
    layer_of: dict[str, str],
) -> PrecisionResult:
    """The lowest precisions that keep top-1 within ``max_drop`` of the float build on ``backend``."""
    reference, lowest = s.plan({}, "reference", "none"), s.plan({}, "lowest", f"all_{precisions[0]}")
    s.measure([reference, lowest], backend)
    if reference.top1 is None:
        raise InputError(f"the float build gave no accuracy on {backend}: {reference.error}")
    target = reference.top1 - max_drop

    def meets(plan: Plan) -> bool:
        return plan.top1 is not None and plan.top1 >= target - 1e-9

    chosen, stopped = lowest, f"every layer at {precisions[0]} meets the target"
    if not meets(lowest):
        chosen, stopped = _raise(s, ranked, precisions, meets, backend)
    if meets(chosen) and chosen.precisions:
        chosen = _lower(s, chosen, precisions, meets, backend)
    layers = [(layer_of.get(t, t), chosen.precisions.get(t, precisions[0])) for t in ranked]
    result = PrecisionResult(
        target, precisions[0], reference, chosen, list(s.by_key.values()), meets(chosen), stopped, layers, s.spent
    )
    s.save(
        {
            "target": target,
            "chosen": chosen.name,
            "met": result.met,
            "stopped": stopped,
            "layers": [list(pair) for pair in layers],
        }
    )
    return result


def _raise(
    s: PrecisionSearch, ranked: list[str], precisions: tuple[str, ...], meets: Callable[[Plan], bool], backend: str
) -> tuple[Plan, str]:
    """The worst ops one step up in growing groups, a precision at a time, until the target holds."""
    below: dict[str, str] = {}
    best: Plan | None = None
    for level in precisions[1:]:
        count = 1
        while True:
            if not s.budget_left():
                return best or s.by_key["reference"], "budget spent before the target was met"
            plan = s.plan({**below, **{t: level for t in ranked[:count]}}, "raise", f"{level}_worst{count}")
            s.measure([plan], backend)
            if best is None or (plan.top1 or 0.0) > (best.top1 or 0.0):
                best = plan
            if meets(plan):
                return plan, "target met"
            if count >= len(ranked):
                break
            count = min(2 * count, len(ranked))
        below = {t: level for t in ranked}
    return best or s.by_key["reference"], "not met even with every ranked layer at the highest precision listed"


def _lower(
    s: PrecisionSearch, chosen: Plan, precisions: tuple[str, ...], meets: Callable[[Plan], bool], backend: str
) -> Plan:
    """Each raised op one step back down (the least harmed first), kept where the target still holds."""
    for number, tensor in enumerate(reversed(list(chosen.precisions)), 1):
        if not s.budget_left():
            break
        step_down = precisions[precisions.index(chosen.precisions[tensor]) - 1]
        trial_precisions = {t: p for t, p in chosen.precisions.items() if t != tensor}
        if step_down != precisions[0]:
            trial_precisions[tensor] = step_down
        trial = s.plan(trial_precisions, "lower", f"lower{number}_{chosen.name}")
        s.measure([trial], backend)
        if meets(trial):
            chosen = trial
    return chosen
