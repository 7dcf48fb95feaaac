"""``host convert`` as one library call: resolve, pick modes, convert with the cache."""

from __future__ import annotations

from pathlib import Path

from host.convert.cache import ConversionCache
from host.convert.converter import ConversionReport, ConvertOptions, convert_model
from host.convert.loader import resolve_model
from host.convert.modes import QuantMode, parse_modes, select_modes
from host.paths import cache_dir


def demo_splits_for(modes: list[QuantMode], calibration: Path | None, train_data: Path | None) -> tuple[Path | None, Path | None]:
    """The demo brings its own calibration and training images, generated only when a mode needs them."""
    from host.data.demo import split_folder

    if calibration is None and any(m.needs_calibration for m in modes):
        calibration = split_folder("calibration")
    if train_data is None and any(m.needs_training for m in modes):
        train_data = split_folder("train")
    return calibration, train_data


def convert_command(
    model: str, modes: str, out: Path, *, weights: str | None = None, calibration: Path | None = None,
    calibration_count: int = 100, io_type: str = "uint8", preset: str | None = None,
    train_data: Path | None = None, qat_epochs: int = 1, use_cache: bool = True,
) -> ConversionReport:
    requested = parse_modes(modes)  # a bad name fails before any work
    source = resolve_model(model, weights)
    if model == "demo":
        calibration, train_data = demo_splits_for(requested, calibration, train_data)
    runnable, skipped = select_modes(modes, has_calibration=calibration is not None, has_training=train_data is not None)
    options = ConvertOptions(
        io_type=io_type, calibration_dir=calibration, calibration_count=calibration_count, preset=preset,
        train_dir=train_data, qat_epochs=qat_epochs, use_cache=use_cache,
    )
    cache = ConversionCache(cache_dir() / "convert")
    return convert_model(source, runnable, out, options, cache=cache, skipped=skipped)
