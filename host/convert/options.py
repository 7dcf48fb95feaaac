"""The conversion options as declared parameters, shared by ``host convert`` and ``host bench``."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from host.convert.modes import IO_TYPES, ModeRequest
from host.params import Param, at_least, comma_list, part, validate

MODES = Param(
    "all",
    "modes, comma-separated: TensorFlow's none, dynamic_range, float16, integer, full_integer, int16x8, "
    "qat; the LiteRT quantizer's dynamic_wi8, dynamic_wi4, weight_only_wi8, weight_only_wi4, a8w8, a16w8 (and "
    "dynamic_wi4_b32, only when named); or a group: tensorflow, quantizer, post_training, all (every mode whose "
    "inputs are given)",
    metavar="LIST",
)
RECIPE = Param(
    (),
    "also build with this LiteRT quantizer recipe (its own JSON format), named after the file; repeatable",
    metavar="FILE.json",
    many=True,
)
WEIGHTS = Param(
    None, "built-in models: 'none' for random weights, or the weights file (nothing is downloaded)", metavar="none|PATH"
)
CALIBRATION = Param(
    None,
    "integer-mode calibration: an image folder, or tensor samples for a model no image feeds "
    "(FILE.npz, or a folder of .npz/.npy, an array per input keyed by input name); default: the last "
    "--calibration-count images of --dataset, never evaluated",
    metavar="DIR|FILE.npz",
)
CALIBRATION_COUNT = Param(100, "calibration images (or tensor samples)", unit="samples", metavar="N", check=at_least(1))
IO_TYPE = Param("uint8", "full_integer input/output type", choices=IO_TYPES)
PRESET = Param(None, "preprocessing preset: mobilenet, unit, caffe, torch, raw (default: the model's)", metavar="P")
TRAIN_DATA = Param(None, "labelled images (class subfolders) for quantization-aware training (qat)", metavar="DIR")
QAT_EPOCHS = Param(1, "quantization-aware fine-tuning epochs", unit="epochs", metavar="N", check=at_least(1))
KEEP_FLOAT = Param(
    None,
    "also build integer with these layers (Keras layer names, or op types such as MEAN) left in "
    "float, named integer+keepN; 'none' for no such build (the demo's default: the layers 'host tune' found "
    "for it)",
    metavar="LAYER,...",
)
USE_CACHE = Param(True, "convert again even when a cached result exists", flag="--no-cache")


def keep_float_layers(text: str | None) -> tuple[str, ...]:
    """``--keep-float`` as a tuple; ``none`` (or nothing) is no selective build."""
    names = tuple(dict.fromkeys(comma_list(text, "--keep-float")))
    return () if names in ((), ("none",)) else names


@dataclass(frozen=True)
class ConversionSettings:
    """How builds are made from a model: the part ``host convert`` and ``host bench`` share."""

    modes: str = MODES.field()
    weights: str | None = WEIGHTS.field()
    calibration: str | None = CALIBRATION.field()
    calibration_count: int = CALIBRATION_COUNT.field()
    io_type: str = IO_TYPE.field()
    preset: str | None = PRESET.field()
    train_data: str | None = TRAIN_DATA.field()
    qat_epochs: int = QAT_EPOCHS.field()
    keep_float: str | None = KEEP_FLOAT.field()
    use_cache: bool = USE_CACHE.field()
    recipe: tuple[str, ...] = RECIPE.field()

    @property
    def keep_float_layers(self) -> tuple[str, ...]:
        return keep_float_layers(self.keep_float)

    @cached_property
    def mode_request(self) -> ModeRequest:
        from host.convert.recipes import recipe_modes

        return ModeRequest.parse(self.modes, recipe_modes(self.recipe))


@dataclass(frozen=True)
class ConvertConfig:
    """``host convert MODEL --modes LIST --out DIR [...]``."""

    model: str = Param(
        "",
        ".keras/.h5 file, SavedModel folder, or a built-in name (demo, mobilenet_v2, ...)",
        positional=True,
        metavar="MODEL",
    ).field()
    out: str = Param("", "folder for <mode>.tflite and manifest.json", metavar="DIR", required=True).field()
    conversion: ConversionSettings = part(ConversionSettings)

    def validate(self) -> None:
        validate(self)
        self.conversion.mode_request  # noqa: B018 - a bad mode name fails before any work
