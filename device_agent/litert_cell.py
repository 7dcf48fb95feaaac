"""One cell's model compiled by LiteRT for its GPU or NPU, in the worker, with what ran it.

Outcomes, each with its reason: ``Unusable`` (no LiteRT here, an unknown version, no
accelerator for this backend: the cell is unavailable), ``Fallback`` (LiteRT will not run the
model on the accelerator alone, or the accelerator took none of it: there is no GPU/NPU figure),
a failed compile (a ``CellFailure`` in phase ``delegate``), or a compiled model and its coverage.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from device_agent import accelerators, backends, deviceinfo
from device_agent.accelerators import Unusable
from device_agent.contract import Delegation
from device_agent.engine_litert import CompiledModel, Folders, registered_accelerators
from device_agent.errors import DeviceAgentError
from device_agent.litert_capi import COMPILATION_ERROR, HW_GPU, LiteRtError

__all__ = ["Fallback", "Unusable", "prepare"]


class Fallback(DeviceAgentError):
    """The accelerator does not run this model by itself."""


class CompileFailed(DeviceAgentError):
    """LiteRT failed to compile the model for the accelerator for another reason."""


@dataclass(frozen=True)
class PreparedModel:
    model: CompiledModel
    init_ms: float
    delegation: Delegation


def _accelerator_name(model: CompiledModel, mask: int) -> str:
    names = [name for name, hardware in model.accelerator_names() if hardware & mask]
    return names[0] if names else "unnamed accelerator"


def _precision(model: CompiledModel, spec: backends.BackendSpec) -> str:
    if spec.kind != "gpu":
        return ""
    if spec.name == "gpu-fp32":
        return "fp32 enforced"
    fp16 = model.supports_fp16()
    return "fp16" if fp16 else "fp32: this GPU has no fp16" if fp16 is False else "default precision"


def prepare(root: Path, model_path: str, op_names: list[str], spec: backends.BackendSpec) -> PreparedModel:
    setup = accelerators.installed(root)
    chosen = accelerators.plan(spec, setup)
    library = accelerators.open_library(setup, chosen)
    folders = Folders(str(setup.folder), chosen.compiler, chosen.dispatch)
    started = time.perf_counter()  # an NPU compiles the model here, on the device: part of init
    try:
        model = CompiledModel(library, model_path, op_names, folders, chosen.accelerators, chosen.opaque)
    except LiteRtError as e:
        if e.status == COMPILATION_ERROR:
            raise Fallback(f"LiteRT {setup.version}'s {chosen.label} accelerator does not run this model by itself "
                           f"({e}: some of its {len(op_names)} ops are not accelerated); it is never measured with the "
                           f"CPU filling in, so there is no {spec.name} figure") from e
        raise CompileFailed(f"LiteRT {setup.version} cannot compile the model for {spec.name}: {e}") from e
    init_ms = (time.perf_counter() - started) * 1000.0
    coverage = model.coverage(partitions_in_model=chosen.accelerators != HW_GPU)
    if coverage.accelerated_ops == 0:
        model.close()
        raise Fallback(f"LiteRT's {chosen.label} accelerator took none of the model's {coverage.total_ops} ops")
    name = _accelerator_name(model, chosen.accelerators)
    if chosen.dispatch:
        vendors = [f.split("libLiteRtDispatch_")[-1].removesuffix(".so") for f in chosen.files if f.startswith("dispatch/")]
        name += f" via {', '.join(vendors)} dispatch"
    precision = _precision(model, spec)
    accelerator = f"{name} (LiteRT {setup.version}{', ' + precision if precision else ''})"
    hardware = backends.software_hardware(spec, deviceinfo.platform_facts())
    delegation = Delegation(coverage.accelerated_ops, coverage.total_ops, delegate="gpu" if chosen.accelerators == HW_GPU
                            else "npu", engine="litert-compiled-model", accelerator=accelerator, hardware=hardware)
    return PreparedModel(model, init_ms, delegation)


def probe(root: Path, spec: backends.BackendSpec) -> str | None:
    """None if LiteRT registers this backend's accelerator here, else why not. Loads native code:
    call it only in a throwaway process."""
    try:
        setup = accelerators.installed(root)
        chosen = accelerators.plan(spec, setup)
        library = accelerators.open_library(setup, chosen)
        found = registered_accelerators(library, Folders(str(setup.folder), chosen.compiler, chosen.dispatch))
    except (Unusable, LiteRtError) as e:
        return str(e)
    if not any(hardware & chosen.accelerators for _, hardware in found):
        names = ", ".join(name for name, _ in found) or "none"
        return f"LiteRT {setup.version} registered no {chosen.label} accelerator here (registered: {names})"
    return None
