"""``host convert`` as one library call: resolve the inputs, pick modes, convert with the cache."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from host.convert.cache import ConversionCache
from host.convert.converter import convert_model
from host.convert.inputs import InputRequest, resolve_inputs
from host.convert.options import ConvertConfig
from host.convert.records import ConversionListener, ConversionReport
from host.errors import InputError
from host.paths import cache_dir


def convert_command(
    config: ConvertConfig, listener: ConversionListener | None = None, say: Callable[[str], None] | None = None
) -> ConversionReport:
    config.validate()
    settings = config.conversion
    request = settings.mode_request
    inputs = resolve_inputs(
        InputRequest(
            config.model,
            weights=settings.weights,
            calibration=settings.calibration,
            train_data=settings.train_data,
            keep_float=settings.keep_float,
            preset=settings.preset,
            modes=request,
            evaluate=False,
            float16_is_source=True,
        )
    )
    if inputs.source is None:
        what = "is already quantized" if Path(config.model).suffix.lower() == ".tflite" else "holds TFLite builds"
        raise InputError(
            f"{config.model} {what}: bench it as it is (host bench --model {config.model}); the quantizer's "
            "modes start from a float .tflite, TensorFlow's from the Keras/TensorFlow model"
        )
    if say is not None:
        for note in inputs.notes:
            say(note)
    runnable, skipped = inputs.select(request)
    cache = ConversionCache(cache_dir() / "convert")
    return convert_model(
        inputs.source,
        runnable,
        Path(config.out),
        inputs.convert_options(settings),
        cache=cache,
        skipped=skipped,
        listener=listener,
    )
