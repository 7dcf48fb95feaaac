"""``--keep-float``'s builds: a mode with the named layers (or op types) left in float, on
either route: TensorFlow's ``integer`` through its selective quantizer (``selective.py``), the
quantizer's modes through ``no_quantize`` recipe entries. Each lands like any build, under the
mode's name with ``+keepN``, and names the mode it varies.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from host.codec import JsonObject
from host.convert import tfenv
from host.convert.builds import cached_build, facts_meta
from host.convert.cache import ConversionCache, cache_key
from host.convert.calibration import CalibrationSet
from host.convert.inspect import TfliteFacts, inspect_tflite
from host.convert.modes import QuantMode
from host.convert.promises import check_promises
from host.convert.records import ConvertOptions, ModeResult
from host.convert.sources import FloatSource, LoadedModel
from host.errors import ConversionError


def convert_variant(
    model_sha: str,
    model: LoadedModel,
    out_dir: Path,
    options: ConvertOptions,
    cache: ConversionCache,
    representative: Callable[[], Iterator[list[np.ndarray]]] | None,
    calibration: CalibrationSet | None,
    preset: str,
) -> ModeResult:
    """The integer build with ``options.keep_float`` left in float (``host/convert/selective.py``)."""
    from host.convert.selective import BASE_MODE, Calibrated, KeepFloat, variant_name

    name = variant_name(KeepFloat(options.keep_float))
    key = cache_key(
        model=model_sha,
        mode=name,
        keep_float=list(options.keep_float),
        converter=tfenv.converter_version(),
        calibration=calibration.sha256 if calibration else None,
        preset=preset,
    )

    def build() -> tuple[bytes, JsonObject]:
        if representative is None:
            raise ConversionError("--keep-float needs calibration images")
        calibrated = Calibrated.from_converter(model.converter(), representative, model.layer_names())
        keep = calibrated.keep(options.keep_float)
        model_bytes = calibrated.build(keep)
        meta = facts_meta(inspect_tflite(model_bytes), [f"kept in float: {', '.join(keep.layers or keep.op_types)}"])
        return model_bytes, {**meta, "float_layers": list(keep.layers), "made_by": tfenv.converter_version()}

    return cached_build(
        name, key, out_dir, options.use_cache, cache, build, variant_of=BASE_MODE, keep_float=options.keep_float
    )


def convert_quantizer_variant(
    base: QuantMode,
    base_key: str,
    floats: FloatSource,
    out_dir: Path,
    options: ConvertOptions,
    cache: ConversionCache,
    representative: Callable[[], Iterator[list[np.ndarray]]] | None,
) -> ModeResult:
    """The quantizer's ``base`` build with ``options.keep_float`` left in float: its recipe with a
    ``no_quantize`` entry per layer (matched in the op names) or op type."""
    from host.convert.quantizer_route import quantize, quantizer_version

    name = f"{base.name}+keep{len(options.keep_float)}"

    def build() -> tuple[bytes, JsonObject]:
        model_bytes = quantize(floats.content(), base, representative, keep_float=options.keep_float)
        facts = inspect_tflite(model_bytes)
        if not kept_more(base, facts, floats):
            raise ConversionError(
                f"the quantizer left nothing of {', '.join(options.keep_float)} in float that {base.name} "
                "had not already"
            )
        notes = [f"kept in float: {', '.join(options.keep_float)}", *check_promises(base, facts, options.io_type)]
        return model_bytes, {
            **facts_meta(facts, notes),
            "float_layers": list(options.keep_float),
            "made_by": quantizer_version(),
        }

    return cached_build(
        name,
        cache_key(base=base_key, keep_float=list(options.keep_float)),
        out_dir,
        options.use_cache,
        cache,
        build,
        variant_of=base.name,
        keep_float=options.keep_float,
    )


def kept_more(base: QuantMode, facts: TfliteFacts, floats: FloatSource) -> bool:
    """Whether a keep-float variant holds more in float than its mode's build: a static build
    has no float kernel of its own; a dynamic or weight-only one is built again to count."""
    from host.convert.quantizer_route import quantize

    if base.needs_calibration:
        return bool(facts.float_kernels)
    return len(facts.float_weight_ops) > len(inspect_tflite(quantize(floats.content(), base, None)).float_weight_ops)
