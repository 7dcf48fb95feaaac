"""The quantization modes as one declarative table.

Each mode is data: which converter switches it sets and what the produced model must look like.
The converter applies the switches generically and then checks the promises, so a mode cannot
silently produce something else (the seed recipe's ``tf.unit8`` typo or its integer mode calling
the float16 saver are impossible here: there is one code path, driven by this table).
"""

from __future__ import annotations

from dataclasses import dataclass

from host.errors import ModeError

IO_TYPES = ("uint8", "int8")


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
    io: str = "float32"
    weight_dtype: str = "float32"
    activation_dtype: str = "float32"


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
        io="quantized",
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

MODES_BY_NAME: dict[str, QuantMode] = {mode.name: mode for mode in MODES}
POST_TRAINING_MODES: tuple[str, ...] = tuple(m.name for m in MODES if not m.needs_training)


@dataclass(frozen=True)
class ModeRequest:
    """What ``--modes`` asked for, parsed once: the modes in table order, and whether a group
    (``all``/``post_training``) was named, in which case a mode whose inputs are missing is
    skipped with its reason instead of being an error."""

    modes: tuple[QuantMode, ...]
    explicit_all: bool

    @classmethod
    def parse(cls, text: str) -> ModeRequest:
        names = [part.strip() for part in text.split(",") if part.strip()]
        if not names:
            raise ModeError("no mode given: pass --modes with one or more of " + ", ".join(MODES_BY_NAME) + ", or all")
        wanted: set[str] = set()
        for name in names:
            if name == "all":
                wanted.update(MODES_BY_NAME)
            elif name == "post_training":
                wanted.update(POST_TRAINING_MODES)
            elif name in MODES_BY_NAME:
                wanted.add(name)
            else:
                raise ModeError(f"unknown mode {name!r}: choose from {', '.join(MODES_BY_NAME)}, post_training or all")
        return cls(tuple(m for m in MODES if m.name in wanted), bool({"all", "post_training"} & set(names)))

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.modes]

    @property
    def needs_calibration(self) -> bool:
        return any(m.needs_calibration for m in self.modes)

    @property
    def needs_training(self) -> bool:
        return any(m.needs_training for m in self.modes)

    def select(self, *, has_calibration: bool, has_training: bool) -> tuple[list[QuantMode], dict[str, str]]:
        """The modes that can run with the inputs given, and the skipped ones with reasons.

        A mode named explicitly whose inputs are missing is a usage error (exit 2); under a group
        it is skipped with its reason so the rest still convert.
        """
        from host.convert.tfenv import qat_installed

        runnable: list[QuantMode] = []
        skipped: dict[str, str] = {}
        for mode in self.modes:
            reason = None
            if mode.needs_calibration and not has_calibration:
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
