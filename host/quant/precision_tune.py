"""``host tune MODEL --precisions float,int8,int4``: the inputs, the device and the output folder
around the precision search (``host.quant.precisions``).

It needs no calibration images (the quantizer's dynamic recipes quantize weights only) and no
TensorFlow graph: a float .tflite tunes as well as a Keras model, whose float build TensorFlow
makes once. The tuned folder holds ``none.tflite``, the chosen mixed build and its recipe as a
file ``host convert --recipe`` takes, with a manifest that ``host bench --model DIR`` reads.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from host.convert.graph import GraphOp, graph_ops
from host.convert.inputs import InputRequest, resolve_inputs
from host.convert.inspect import quantized_weight_ops
from host.convert.modes import MODES_BY_NAME
from host.convert.quantizer_route import quantize_with, quantizer_version
from host.errors import BenchInterrupted, InputError
from host.fsio import atomic_write
from host.hashing import sha256_file
from host.quant.options import TuneOptions
from host.quant.precisions import (
    BITS,
    PrecisionResult,
    PrecisionSearch,
    parse_precisions,
    recipe,
    search,
    weight_error,
)
from host.quant.tune_resume import device_measure, interrupted

if TYPE_CHECKING:
    from host.bench.cells import BenchListener
    from host.store.location import StoreLocation

TUNED = "tuned_precisions"


def float_model_of(options: TuneOptions, listener: BenchListener) -> tuple[bytes, str, str, Path]:
    """(the float .tflite, the model's name and sha256, the dataset) from the one input step."""
    from host.convert.cache import ConversionCache
    from host.convert.converter import convert_model
    from host.convert.records import ConvertOptions
    from host.paths import cache_dir

    resolved = resolve_inputs(
        InputRequest(
            options.model,
            weights=options.weights,
            dataset=options.dataset,
            labels=options.labels,
            preset=options.preset,
            float16_is_source=True,
        )
    )
    if resolved.source is None:
        raise InputError(f"{options.model} is already quantized: --precisions starts from a float model")
    if resolved.dataset is None:
        raise InputError("pass --dataset DIR: labelled images whose accuracy is measured on the device")
    for note in resolved.notes:
        listener.stage(note)
    source = resolved.source
    if source.kind == "tflite_file" and source.path is not None:
        return source.path.read_bytes(), source.name, source.sha256, resolved.dataset
    out = cache_dir() / "bench-models" / source.sha256[:16]
    report = convert_model(
        source,
        [MODES_BY_NAME["none"]],
        out,
        ConvertOptions(preset=resolved.preset),
        cache=ConversionCache(cache_dir() / "convert"),
    )
    (result,) = report.results
    if not result.ok or result.path is None:
        raise InputError(f"the float build of {source.name} failed: {result.error}")
    return Path(result.path).read_bytes(), source.name, source.sha256, resolved.dataset


def display_names(ops: list[GraphOp]) -> dict[str, str]:
    """Each op by its layer's name where that names it alone, else by its output tensor (a model
    with no Keras source can name two ops alike, ``MatMul`` and ``MatMul_1``)."""
    from collections import Counter

    counts = Counter(op.layer for op in ops)
    return {op.tensor: op.layer if counts[op.layer] == 1 else op.tensor for op in ops}


def precision_tune_command(options: TuneOptions, db: StoreLocation, listener: BenchListener) -> PrecisionResult:
    """Rank the weighted ops, search on the device, and write the tuned build folder."""
    from host.data.images import list_images

    precisions = parse_precisions(options.precisions or "")
    float_model, name, sha256, dataset = float_model_of(options, listener)
    ops = graph_ops(float_model)
    errors = weight_error(float_model, ops, BITS.get(precisions[0], 8))
    lowest = quantized_weight_ops(quantize_with(float_model, recipe(precisions[0], {})))
    ranked = sorted((t for t in errors if t in lowest), key=lambda t: -errors[t])  # what stays float cannot move
    if not ranked:
        raise InputError(
            f"the quantizer stores no weight of {name} as {precisions[0]}: there is no precision to choose"
        )
    listener.stage(f"{len(ranked)} weighted layers ranked by the error {precisions[0]} makes in their weights")
    measure = device_measure(options, options.preset, dataset, db, listener)

    identity = {
        "model": sha256,
        "precisions": list(precisions),
        "dataset": str(Path(dataset).resolve()),
        "images": len(list_images(dataset).entries),
        "limit": options.limit,
        "backend": options.backend,
        "device": list(options.device),
    }
    s = PrecisionSearch(
        float_model, precisions[0], Path(options.out), measure, identity, options.budget * 60, listener.stage
    )
    try:
        result = search(s, ranked, precisions, options.backend, options.max_accuracy_drop, display_names(ops))
    except BenchInterrupted:
        raise interrupted(options, db) from None
    write_tuned(result, Path(options.out), name)
    return result


def write_tuned(result: PrecisionResult, out: Path, model_name: str) -> None:
    """``none.tflite``, the chosen build and its recipe, and a manifest host bench reads."""
    modes = {}
    for mode, plan in (("none", result.reference), (TUNED, result.chosen)):
        target = out / f"{mode}.tflite"
        atomic_write(target, (out / "candidates" / f"{plan.key}.tflite").read_bytes())
        modes[mode] = {
            "path": target.name,
            "size_bytes": target.stat().st_size,
            "sha256": sha256_file(target),
            "made_by": quantizer_version() if mode == TUNED else "the float build",
            "notes": [f"tuned on the device: top-1 {plan.top1}% (target {result.target:.2f}%)"],
        }
    atomic_write(
        out / f"{TUNED}_recipe.json", json.dumps(recipe(result.lowest, result.chosen.precisions), indent=2).encode()
    )
    atomic_write(out / "manifest.json", json.dumps({"model": {"name": model_name}, "modes": modes}, indent=2).encode())
