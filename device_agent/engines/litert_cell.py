"""One cell's model compiled by LiteRT for its GPU or NPU, in the worker, with what ran it.

Outcomes, each with its reason: ``BackendUnavailable`` (no LiteRT here, an unknown version, no
accelerator for this backend), ``AcceleratorFallback`` (LiteRT will not run the model on the
accelerator alone, or the accelerator took none of it: there is no GPU/NPU figure),
``CompileFailed`` (any other compile error: a failed cell), or a compiled model and its coverage.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from device_agent.contract import Delegation
from device_agent.engines import accelerators, backends
from device_agent.engines.backends import AcceleratorFallback, BackendUnavailable
from device_agent.engines.engine_litert import CompiledModel, Folders, registered_accelerators
from device_agent.engines.litert_capi import COMPILATION_ERROR, HW_GPU, HW_NPU, Library, LiteRtError
from device_agent.engines.native_log import captured_stderr, first_error, log_reason, refused_ops
from device_agent.errors import DeviceAgentError
from device_agent.measuring import deviceinfo
from device_agent.storage import start_cache
from device_agent.storage.start_cache import StartCache

FROM_CACHE = (
    "; the compiled model read from the start cache, its ops counted on the NPU by the cold start that wrote it"
)


class CompileFailed(DeviceAgentError):
    """LiteRT failed to compile the model for the accelerator for another reason."""


@dataclass(frozen=True)
class PreparedModel:
    model: CompiledModel
    init_ms: float
    delegation: Delegation


@dataclass(frozen=True)
class Opened:
    """LiteRT loaded for one backend: the release, the plan, the library and its folders."""

    setup: accelerators.Installed
    plan: accelerators.Plan
    library: Library

    @property
    def folders(self) -> Folders:
        return Folders(str(self.setup.folder), self.plan.compiler, self.plan.dispatch, self.plan.compiler_cache)


def open_litert(root: Path, spec: backends.BackendSpec, cache: StartCache | None = None) -> Opened:
    """LiteRT for ``spec``; with ``cache``, its accelerator writes (and reads) the cell's start cache."""
    setup = accelerators.installed(root)
    chosen = accelerators.plan(spec, setup)
    if cache is not None:
        opaque, compiler_cache = start_cache.applied(chosen.opaque, chosen.accelerators, cache)
        chosen = replace(chosen, opaque=opaque, compiler_cache=compiler_cache)
    return Opened(setup, chosen, accelerators.open_library(setup, chosen))


def _accelerator_label(model: CompiledModel, opened: Opened, spec: backends.BackendSpec) -> str:
    """``GPU WebGPU (LiteRT 2.3.0, fp16)``: the registered accelerator, its dispatch, its precision."""
    names = [name for name, hardware in model.accelerator_names() if hardware & opened.plan.accelerators]
    name = names[0] if names else "unnamed accelerator"
    vendors = [
        f.split("libLiteRtDispatch_")[-1].removesuffix(".so") for f in opened.plan.files if f.startswith("dispatch/")
    ]
    if vendors:
        name += f" via {', '.join(vendors)} dispatch"
    precision = ""
    if spec.name == "gpu-fp32":
        precision = ", fp32 enforced"
    elif spec.kind == "gpu":
        fp16 = model.supports_fp16()
        precision = ", fp16" if fp16 else ", fp32: this GPU has no fp16" if fp16 is False else ", default precision"
    return f"{name} (LiteRT {opened.setup.version}{precision})"


def _refusal(error: LiteRtError, log: list[str], accelerator: str, total_ops: int, backend: str) -> DeviceAgentError:
    """Why the accelerator did not compile the model, naming what LiteRT's log says it refused:
    a fallback (it would not take the whole model) or a failed compile."""
    if error.status == COMPILATION_ERROR:
        named, said = refused_ops(log), first_error(log)
        which = (
            f"it refused {named}"
            if named
            else f"LiteRT's log: {said}"
            if said
            else f"some of its {total_ops} ops are not accelerated"
        )
        return AcceleratorFallback(
            f"{accelerator} does not run this model by itself ({error}: {which}); it is never "
            f"measured with the CPU filling in, so there is no {backend} figure"
        )
    said = log_reason(log)
    return CompileFailed(
        f"{accelerator} rejects this build ({error}"
        + (f"; LiteRT's log: {said}" if said else "")
        + f"), so there is no {backend} figure for it"
    )


def prepare(
    root: Path,
    model_path: str,
    total_ops: int,
    spec: backends.BackendSpec,
    on_runtime_loaded: Callable[[], None] = lambda: None,
    cache: StartCache | None = None,
) -> PreparedModel:
    """Compile for the accelerator; ``on_runtime_loaded`` runs once libLiteRt.so is loaded and
    before the model or the accelerator is (the memory baseline)."""
    opened = open_litert(root, spec, cache)
    cached = cache is not None and cache.files_bytes() > 0  # a warm start: what an earlier start compiled is there
    on_runtime_loaded()
    chosen, version = opened.plan, opened.setup.version
    started = time.perf_counter()  # an NPU compiles the model here, on the device: part of init
    try:
        with captured_stderr() as log:
            model = CompiledModel(
                opened.library, model_path, total_ops, opened.folders, chosen.accelerators, chosen.opaque
            )
    except LiteRtError as e:
        raise _refusal(e, log, f"LiteRT {version}'s {chosen.label} accelerator", total_ops, spec.name) from e
    init_ms = (time.perf_counter() - started) * 1000.0
    accelerated = model.accelerated_ops(partitions_in_model=chosen.accelerators != HW_GPU)
    from_cache = accelerated == 0 and cached and chosen.accelerators == HW_NPU
    if from_cache:  # LiteRT loaded the model the cold start compiled, whose ops that start counted on the NPU
        accelerated = total_ops
    if accelerated == 0:
        model.close()
        raise AcceleratorFallback(f"LiteRT's {chosen.label} accelerator took none of the model's {total_ops} ops")
    hardware = backends.software_hardware(spec, deviceinfo.platform_facts())
    delegation = Delegation(
        accelerated,
        total_ops,
        delegate="gpu" if chosen.accelerators == HW_GPU else "npu",
        engine="litert-compiled-model",
        accelerator=_accelerator_label(model, opened, spec) + (FROM_CACHE if from_cache else ""),
        hardware=hardware,
    )
    return PreparedModel(model, init_ms, delegation)


def probe(root: Path, spec: backends.BackendSpec) -> str | None:
    """None if LiteRT registers this backend's accelerator here, else why not. Loads native code:
    call it only in a throwaway process."""
    try:
        opened = open_litert(root, spec)
        found = registered_accelerators(opened.library, opened.folders)
    except (BackendUnavailable, LiteRtError) as e:
        return str(e)
    if not any(hardware & opened.plan.accelerators for _, hardware in found):
        names = ", ".join(name for name, _ in found) or "none"
        return f"LiteRT {opened.setup.version} registered no {opened.plan.label} accelerator here (registered: {names})"
    return None
