"""``host convert`` as one library call: resolve, pick modes, convert with the cache."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from host.convert.cache import ConversionCache
from host.convert.converter import ConversionListener, ConversionReport, ConvertOptions, convert_model
from host.convert.loader import resolve_model
from host.convert.modes import ModeRequest
from host.convert.options import ConvertConfig
from host.paths import cache_dir


def demo_splits_for(request: ModeRequest, calibration: Path | None, train_data: Path | None,
                    keep_float: bool = False) -> tuple[Path | None, Path | None]:
    """The demo brings its own calibration and training images, generated only when a mode needs them
    (the training images in the background: ``ConvertOptions.training_ready`` waits for them)."""
    from host.data.demo import render_in_background, split_folder

    if train_data is None and request.needs_training:
        train_data = render_in_background("train")
    if calibration is None and (request.needs_calibration or keep_float):
        calibration = split_folder("calibration")
    return calibration, train_data


def finish_demo_rendering(meanwhile: Callable[[], object]) -> None:
    """Wait for the demo's splits being written in the background (none for a user's model)."""
    from host.data.demo import finish_rendering

    finish_rendering(meanwhile)


def demo_keep_float(request: ModeRequest) -> tuple[str, ...]:
    """The layers ``host tune`` keeps in float for the demo: its default integer+keep build, made
    when the integer mode it varies is asked for."""
    from host.data.demo import demo_meta

    if "integer" not in request.names:
        return ()
    value = demo_meta().get("keep_float")
    return tuple(str(name) for name in value) if isinstance(value, list) else ()


def convert_command(config: ConvertConfig, listener: ConversionListener | None = None) -> ConversionReport:
    config.validate()
    request = config.mode_request
    source = resolve_model(config.model, config.weights)
    calibration = Path(config.calibration) if config.calibration else None
    train_data = Path(config.train_data) if config.train_data else None
    keep_float = config.keep_float_layers if config.keep_float is not None or config.model != "demo" else demo_keep_float(request)
    if config.model == "demo":
        calibration, train_data = demo_splits_for(request, calibration, train_data, bool(keep_float))
    runnable, skipped = request.select(has_calibration=calibration is not None, has_training=train_data is not None)
    options = ConvertOptions(
        io_type=config.io_type, calibration_dir=calibration, calibration_count=config.calibration_count,
        preset=config.preset, train_dir=train_data, qat_epochs=config.qat_epochs, use_cache=config.use_cache,
        keep_float=keep_float, training_ready=finish_demo_rendering,
    )
    cache = ConversionCache(cache_dir() / "convert")
    return convert_model(source, runnable, Path(config.out), options, cache=cache, skipped=skipped, listener=listener)
