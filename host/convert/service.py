"""``host convert`` as one library call: resolve, pick modes, convert with the cache."""

from __future__ import annotations

from pathlib import Path

from host.convert import tfenv
from host.convert.cache import ConversionCache
from host.convert.converter import ConversionReport, ConvertOptions, convert_model
from host.convert.loader import resolve_model
from host.convert.modes import applicable_modes, parse_modes
from host.paths import cache_dir


def default_calibration_dir(model: str) -> Path | None:
    """The demo model brings its own calibration images; other models need --calibration."""
    if model != "demo":
        return None
    from host.data.demo import split_folder

    return split_folder("calibration")


def convert_command(
    model: str, modes: str, out: Path, *, weights: str | None = None, calibration: Path | None = None,
    calibration_count: int = 100, io_type: str = "uint8", preset: str | None = None,
    train_data: Path | None = None, qat_epochs: int = 1, use_cache: bool = True,
) -> ConversionReport:
    requested = parse_modes(modes)
    source = resolve_model(model, weights)
    calibration = calibration or default_calibration_dir(model)
    if model == "demo" and train_data is None:
        from host.data.demo import split_folder

        train_data = split_folder("train")
    runnable, skipped = applicable_modes(
        requested, explicit_all="all" in modes.split(",") or "post_training" in modes.split(","),
        has_calibration=calibration is not None, has_training=train_data is not None,
        qat_installed=tfenv.qat_installed(),
    )
    options = ConvertOptions(
        io_type=io_type, calibration_dir=calibration, calibration_count=calibration_count, preset=preset,
        train_dir=train_data, qat_epochs=qat_epochs, use_cache=use_cache,
    )
    cache = ConversionCache(cache_dir() / "convert")
    return convert_model(source, runnable, out, options, cache=cache, skipped=skipped)
