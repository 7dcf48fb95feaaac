"""The quantization modes as one declarative table, for both tools that make builds.

Each mode is data: which tool makes it (TensorFlow's converter from the Keras/SavedModel source,
or LiteRT's own quantizer, ``ai-edge-quantizer``, from the float ``.tflite``), the switches or
recipe it uses, and what the produced model must look like. The converter applies them
generically and then checks the promises, so a mode cannot silently produce something else (the
seed recipe's ``tf.unit8`` typo or its integer mode calling the float16 saver are impossible
here: there is one code path, driven by this table).

The quantizer's modes work on any float ``.tflite`` (a PyTorch or JAX export too); TensorFlow's,
except ``none``, need the graph the model came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from host.errors import ModeError

RecipeKind = Literal["dynamic", "weight_only", "static"]

IO_TYPES = ("uint8", "int8")
Tool = Literal["tensorflow", "ai-edge-quantizer"]
TENSORFLOW: Tool = "tensorflow"  # tf.lite.TFLiteConverter (and tensorflow-model-optimization for qat)
QUANTIZER: Tool = "ai-edge-quantizer"  # LiteRT's quantizer, on the float .tflite
Io = Literal["float32", "quantized"]  # float input/output, or the type --io-type names
FLOAT_IO: Io = "float32"
QUANTIZED_IO: Io = "quantized"


@dataclass(frozen=True)
class Recipe:
    """One of the quantizer's recipes, as its ``RecipeManager`` builds them: ``dynamic`` (weights
    quantized, activations quantized on the fly by the kernel), ``weight_only`` (weights
    dequantized to float compute) or ``static`` (weights and activations, calibrated)."""

    kind: RecipeKind
    weight_bits: int
    activation_bits: int | None = None
    granularity: str = "CHANNELWISE"  # or BLOCKWISE_32/64/128/256


@dataclass(frozen=True)
class QuantMode:
    """How to convert one mode and what its output promises.

    ``io`` is ``"float32"`` when the model keeps float input/output, ``"quantized"`` when the
    input/output type follows ``--io-type`` (uint8 by default).
    """

    name: str
    summary: str
    optimize: bool = False
    supported_types: tuple[str, ...] = ()
    supported_ops: tuple[str, ...] = ()
    needs_calibration: bool = False
    needs_training: bool = False
    io: Io = FLOAT_IO
    weight_dtype: str = "float32"
    activation_dtype: str = "float32"
    tool: Tool = TENSORFLOW
    recipe: Recipe | None = None
    recipe_file: str | None = None  # --recipe FILE.json: the quantizer's own recipe format
    io_dtype: str | None = None  # the input/output type the mode fixes (the quantizer's static modes)
    explicit_only: bool = False  # built only when named, never by a group (see its entry)

    @property
    def needs_graph(self) -> bool:
        """TensorFlow's converter reads the Keras/SavedModel graph; a .tflite source has none."""
        return self.tool == TENSORFLOW and self.name != "none"


MODES: tuple[QuantMode, ...] = (
    QuantMode("none", "float32, no quantization"),
    QuantMode(
        "dynamic_range",
        "int8 weights, float activations quantized on the fly",
        optimize=True,
        weight_dtype="int8",
    ),
    QuantMode(
        "float16",
        "float16 weights, float32 compute on CPU",
        optimize=True,
        supported_types=("float16",),
        weight_dtype="float16",
    ),
    QuantMode(
        "integer",
        "int8 weights and activations, float fallback, float input/output",
        optimize=True,
        needs_calibration=True,
        weight_dtype="int8",
        activation_dtype="int8",
    ),
    QuantMode(
        "full_integer",
        "int8 kernels only, integer input/output (uint8 or int8)",
        optimize=True,
        supported_ops=("TFLITE_BUILTINS_INT8",),
        needs_calibration=True,
        io=QUANTIZED_IO,
        weight_dtype="int8",
        activation_dtype="int8",
    ),
    QuantMode(
        "int16x8",
        "int16 activations with int8 weights",
        optimize=True,
        supported_ops=("EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8",),
        needs_calibration=True,
        weight_dtype="int8",
        activation_dtype="int16",
    ),
    QuantMode(
        "qat",
        "quantization-aware training (fine-tuned), int8 kernels",
        optimize=True,
        needs_training=True,
        weight_dtype="int8",
        activation_dtype="int8",
    ),
)


def _quantizer(
    name: str,
    summary: str,
    recipe: Recipe,
    weight_dtype: str,
    activation_dtype: str = "float32",
    io_dtype: str | None = None,
    explicit_only: bool = False,
) -> QuantMode:
    return QuantMode(
        name,
        summary + " (LiteRT quantizer)",
        tool=QUANTIZER,
        recipe=recipe,
        needs_calibration=recipe.kind == "static",
        weight_dtype=weight_dtype,
        activation_dtype=activation_dtype,
        io_dtype=io_dtype,
        explicit_only=explicit_only,
    )


MODES += (
    _quantizer(
        "dynamic_wi8",
        "int8 weights per channel, activations quantized on the fly",
        Recipe("dynamic", 8),
        weight_dtype="int8",
    ),
    _quantizer(
        "dynamic_wi4",
        "int4 weights per channel, activations quantized on the fly",
        Recipe("dynamic", 4),
        weight_dtype="int4",
    ),
    # named only: ai-edge-quantizer 0.10.0 blocks fully connected layers alone (an image model's
    # convolutions stay float), and LiteRT 2.3.0's GPU and NPU accelerators crash compiling it
    _quantizer(
        "dynamic_wi4_b32",
        "int4 weights in blocks of 32 (fully connected layers), activations on the fly",
        Recipe("dynamic", 4, granularity="BLOCKWISE_32"),
        weight_dtype="int4",
        explicit_only=True,
    ),
    _quantizer(
        "weight_only_wi8",
        "int8 weights per channel, dequantized to float compute",
        Recipe("weight_only", 8),
        weight_dtype="int8",
    ),
    _quantizer(
        "weight_only_wi4",
        "int4 weights per channel, dequantized to float compute",
        Recipe("weight_only", 4),
        weight_dtype="int4",
    ),
    _quantizer(
        "a8w8",
        "int8 weights and activations, int8 input/output",
        Recipe("static", 8, 8),
        weight_dtype="int8",
        activation_dtype="int8",
        io_dtype="int8",
    ),
    _quantizer(
        "a16w8",
        "int16 activations with int8 weights, int16 input/output",
        Recipe("static", 8, 16),
        weight_dtype="int8",
        activation_dtype="int16",
        io_dtype="int16",
    ),
)

MODES_BY_NAME: dict[str, QuantMode] = {mode.name: mode for mode in MODES}
KEEP_FLOAT_DEFAULT_MODES = (
    "a8w8",
)  # the demo's own keep-float layers vary integer and, on this route, its calibrated int8
POST_TRAINING_MODES: tuple[str, ...] = tuple(m.name for m in MODES if not m.needs_training and not m.explicit_only)
GROUPS: dict[str, tuple[str, ...]] = {
    "all": tuple(m.name for m in MODES if not m.explicit_only),
    "post_training": POST_TRAINING_MODES,
    "tensorflow": tuple(m.name for m in MODES if m.tool == TENSORFLOW),
    "quantizer": tuple(m.name for m in MODES if m.tool == QUANTIZER and not m.explicit_only),
}


@dataclass(frozen=True)
class ModeRequest:
    """What ``--modes`` (and ``--recipe``) asked for, parsed once: the modes in table order, then
    a build per recipe file, and whether a group (``all``, ``post_training``, ``tensorflow``,
    ``quantizer``) was named, in which case a mode whose inputs are missing is skipped with its
    reason instead of being an error."""

    modes: tuple[QuantMode, ...]
    explicit_all: bool

    @classmethod
    def parse(cls, text: str, recipes: tuple[QuantMode, ...] = ()) -> ModeRequest:
        names = [part.strip() for part in text.split(",") if part.strip()]
        if not names and not recipes:
            raise ModeError("no mode given: pass --modes with one or more of " + ", ".join(MODES_BY_NAME) + ", or all")
        wanted: set[str] = set()
        for name in names:
            if name in GROUPS:
                wanted.update(GROUPS[name])
            elif name in MODES_BY_NAME:
                wanted.add(name)
            else:
                raise ModeError(
                    f"unknown mode {name!r}: choose from {', '.join(MODES_BY_NAME)}, or a group: {', '.join(GROUPS)}"
                )
        return cls(tuple(m for m in MODES if m.name in wanted) + recipes, bool(set(GROUPS) & set(names)))

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.modes]

    @property
    def needs_calibration(self) -> bool:
        return any(m.needs_calibration for m in self.modes)

    @property
    def needs_training(self) -> bool:
        return any(m.needs_training for m in self.modes)

    def select(
        self, *, has_calibration: bool, has_training: bool, has_graph: bool = True
    ) -> tuple[list[QuantMode], dict[str, str]]:
        """The modes that can run with the inputs given, and the skipped ones with reasons.

        A mode named explicitly whose inputs are missing is a usage error (exit 2); under a group
        it is skipped with its reason so the rest still convert.
        """
        from host.convert.tfenv import qat_installed

        runnable: list[QuantMode] = []
        skipped: dict[str, str] = {}
        for mode in self.modes:
            reason = None
            if mode.needs_graph and not has_graph:
                reason = (
                    f"mode {mode.name!r} is made by TensorFlow's converter from the Keras/SavedModel graph, and a "
                    ".tflite has none (the quantizer's modes work on it: --modes quantizer)"
                )
            elif mode.needs_calibration and not has_calibration:
                reason = f"mode {mode.name!r} needs calibration images: pass --calibration DIR"
            elif mode.needs_training and not has_training:
                reason = f"mode {mode.name!r} needs labelled training images: pass --train-data DIR (class subfolders)"
            elif mode.needs_training and not qat_installed():
                reason = f"mode {mode.name!r} needs tensorflow-model-optimization: pip install 'quantbench[qat]'"
            if reason is None:
                runnable.append(mode)
            elif self.explicit_all:
                skipped[mode.name] = reason
            else:
                raise ModeError(reason)
        return runnable, skipped
