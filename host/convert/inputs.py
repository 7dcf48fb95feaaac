"""The one input step: what a command was given, resolved into the files and settings it works on.

``convert``, ``bench``, ``compare``, ``debug`` and ``tune`` all start here, so they agree on
what a model name means, which images calibrate and evaluate it, which layers stay in float and
how its input is scaled. The demo's defaults (its own splits, its tuned keep-float layers, its
preset) are decided here and nowhere else.

The preprocessing preset is the one decision a user rarely sees and that costs the most when it
is wrong (a model that scales its own pixels, fed pre-scaled input, scores near chance): an
explicit ``--preset`` always wins; otherwise the model's own (the demo's and the built-ins'
recorded one; ``raw`` for a Keras model whose first layer is ``Rescaling`` or
``Normalization``, which takes raw pixels), else ``mobilenet``, and the reason is said.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from host.convert.given import ModelFile, is_given_build, load_given
from host.convert.loader import ModelSource, check_model_named, resolve_model
from host.convert.modes import GROUPS, KEEP_FLOAT_DEFAULT_MODES, ModeRequest, QuantMode
from host.convert.options import ConversionSettings
from host.convert.records import DEFAULT_PRESET, ConvertOptions
from host.errors import InputError
from host.results import ModelInfo

DEMO = "demo"
SELF_SCALING = ("Rescaling", "Normalization")  # Keras layers that take raw pixels and scale them themselves


def check_model(spec: str) -> None:
    """That a model names something before any device is started for it: the demo, a built-in
    name or a path that exists (what it holds is checked by the input step itself)."""
    if spec != DEMO:
        check_model_named(spec)


@dataclass(frozen=True)
class InputRequest:
    """What a command was given (paths as typed) and what it will do with them."""

    model: str
    weights: str | None = None
    dataset: str | None = None
    labels: str | None = None
    calibration: str | None = None
    train_data: str | None = None
    keep_float: str | None = None
    preset: str | None = None
    modes: ModeRequest | None = None  # the modes to be built; None: the command builds its own (debug, tune)
    evaluate: bool = True  # the command evaluates images (the demo brings its own)
    calibrate: bool = False  # the command always calibrates (debug, tune): a calibration folder is required
    float16_is_source: bool = (
        False  # a float16 .tflite is widened into a source (convert, debug, tune), not benched as given
    )
    as_built: bool = False  # a float .tflite is a build to measure as it is (compare's two files), not a source


@dataclass(frozen=True)
class GivenBuilds:
    """Builds benched as they are: one .tflite file, or a ``host convert`` folder."""

    model: ModelInfo
    files: dict[str, ModelFile]


@dataclass(frozen=True)
class ResolvedInputs:
    """The inputs a command works on, every default applied, with the preset and why it was chosen."""

    model: str
    source: ModelSource | None  # None: given builds
    given: GivenBuilds | None
    dataset: Path | None
    labels: Path | None
    calibration: Path | None
    train_data: Path | None
    keep_float: tuple[str, ...]
    preset: str
    preset_reason: str
    demo_data: bool = False  # the evaluation images are the demo's own
    keep_float_default: bool = (
        False  # the keep-float layers are the demo's (not the user's): only integer and a8w8 vary
    )

    @property
    def preset_note(self) -> str:
        return f"preprocessing preset {self.preset}: {self.preset_reason}"

    @property
    def notes(self) -> tuple[str, ...]:
        """What the console says first: what was done to the model file, then the preset."""
        normalized = self.source.note if self.source is not None else None
        return (*((normalized,) if normalized else ()), self.preset_note)

    def select(self, request: ModeRequest, calibration_entries: bool = False) -> tuple[list[QuantMode], dict[str, str]]:
        """The modes that can be built from these inputs, and the others with the reason."""
        return request.select(
            has_calibration=self.calibration is not None or calibration_entries,
            has_training=self.train_data is not None,
            has_graph=self.source is None or self.source.kind != "tflite_file",
        )

    def convert_options(
        self, settings: ConversionSettings, calibration_entries: tuple[Any, ...] = ()
    ) -> ConvertOptions:
        """The converter's options: one mapping for every command that converts."""
        from host.data.demo import finish_rendering

        return ConvertOptions(
            io_type=settings.io_type,
            calibration_dir=self.calibration,
            calibration_entries=calibration_entries,
            calibration_count=settings.calibration_count,
            preset=self.preset,
            train_dir=self.train_data,
            qat_epochs=settings.qat_epochs,
            use_cache=settings.use_cache,
            keep_float=self.keep_float,
            keep_float_modes=KEEP_FLOAT_DEFAULT_MODES if self.keep_float_default else GROUPS["quantizer"],
            training_ready=finish_rendering,
        )


def resolve_inputs(request: InputRequest) -> ResolvedInputs:
    """Every default applied: the demo's splits and layers, the given builds read, the preset chosen."""
    as_built = request.as_built and Path(request.model).suffix.lower() == ".tflite"
    given = _given(request) if as_built or is_given_build(request.model, request.float16_is_source) else None
    source = (
        None if given else (_demo_source() if request.model == DEMO else resolve_model(request.model, request.weights))
    )
    preset, reason = choose_preset(request.preset, source)
    dataset, calibration, train_data, keep_float = _paths(request, given is not None)
    labels = Path(request.labels) if request.labels else None
    return ResolvedInputs(
        request.model,
        source,
        given,
        dataset,
        labels,
        calibration,
        train_data,
        keep_float,
        preset,
        reason,
        demo_data=request.model == DEMO and request.dataset is None and dataset is not None,
        keep_float_default=request.keep_float is None,
    )


def _paths(request: InputRequest, given: bool) -> tuple[Path | None, Path | None, Path | None, tuple[str, ...]]:
    """(dataset, calibration, training images, keep-float layers), the demo's own where not given."""
    from host.convert.options import keep_float_layers

    dataset = Path(request.dataset) if request.dataset else None
    calibration = Path(request.calibration) if request.calibration else None
    train_data = Path(request.train_data) if request.train_data else None
    modes = request.modes
    if request.model != DEMO:
        if request.calibrate and calibration is None:
            raise InputError("pass --calibration DIR: the images the integer build is calibrated on")
        return dataset, calibration, train_data, () if given else keep_float_layers(request.keep_float)
    from host.data import demo

    keep_float = keep_float_layers(request.keep_float) if request.keep_float is not None else _demo_keep_float(modes)
    if request.evaluate and dataset is None:
        dataset = demo.split_folder("eval")
    if train_data is None and modes is not None and modes.needs_training:
        train_data = demo.render_in_background("train")  # ConvertOptions.training_ready waits for it
    if calibration is None and (request.calibrate or (modes is not None and (modes.needs_calibration or keep_float))):
        calibration = demo.split_folder("calibration")
    return dataset, calibration, train_data, keep_float


def _demo_keep_float(modes: ModeRequest | None) -> tuple[str, ...]:
    """The layers ``host tune`` keeps in float for the demo: its default integer+keep build, made
    when the integer mode it varies is asked for."""
    from host.data.demo import demo_meta

    if modes is None or "integer" not in modes.names:
        return ()
    value = demo_meta().get("keep_float")
    return tuple(str(name) for name in value) if isinstance(value, list) else ()


def _demo_source() -> ModelSource:
    from dataclasses import replace

    from host.convert.loader import resolve_file
    from host.data.demo import MODEL_FILE, demo_meta
    from host.errors import ModelLoadError

    if not MODEL_FILE.is_file():
        raise ModelLoadError(f"the bundled demo model is missing at {MODEL_FILE}: run python tools/build_demo.py")
    meta = demo_meta()
    size = int(str(meta.get("input_size", 0))) or None
    source = resolve_file(MODEL_FILE, name=DEMO, kind="demo")
    return replace(
        source, preset=str(meta.get("preset", DEFAULT_PRESET)), known_input_shape=(size, size, 3) if size else None
    )


def _given(request: InputRequest) -> GivenBuilds:
    single = Path(request.model).suffix.lower() == ".tflite"
    model, files = load_given(request.model, None if single else request.modes)
    return GivenBuilds(model, files)


def choose_preset(explicit: str | None, source: ModelSource | None) -> tuple[str, str]:
    """(preset, why): ``--preset`` first, then what the model says of itself, then the default."""
    if explicit:
        return explicit, "given with --preset"
    if source is None:
        return DEFAULT_PRESET, (
            f"the default: a .tflite build does not say how its input is scaled (pass --preset if it "
            f"is not {DEFAULT_PRESET})"
        )
    if source.preset:
        return source.preset, f"the one recorded for {source.name}"
    layer = first_layer(source.path) if source.path and source.kind == "keras_file" else None
    if layer in SELF_SCALING:
        return "raw", f"the model's first layer is {layer}, so it takes raw pixels and scales them itself"
    what = f"its first layer is {layer}" if layer else "no preprocessing layer was found in it"
    return DEFAULT_PRESET, f"the default ({what}; pass --preset if the model expects other scaling)"


def first_layer(path: Path) -> str | None:
    """The class of a Keras model file's first layer after its inputs, read from the saved
    configuration without TensorFlow (``.keras``: config.json; ``.h5``: the model_config
    attribute); None when it cannot be read."""
    try:
        if path.suffix.lower() == ".keras":
            with zipfile.ZipFile(path) as archive:
                config = json.loads(archive.read("config.json"))
        else:
            import h5py

            with h5py.File(path, "r") as handle:
                raw = handle.attrs.get("model_config")
            config = json.loads(raw.decode() if isinstance(raw, bytes) else str(raw))
    except Exception:  # noqa: BLE001 - any unreadable configuration means "not known"
        return None
    return _first(config)


def _first(config: object) -> str | None:
    """The first non-input layer's class, looking inside a nested Sequential or Functional."""
    if not isinstance(config, dict):
        return None
    layers = (config.get("config") or {}).get("layers") if isinstance(config.get("config"), dict) else None
    for layer in layers or []:
        if not isinstance(layer, dict) or layer.get("class_name") == "InputLayer":
            continue
        name = str(layer.get("class_name"))
        return (_first(layer) or name) if name in ("Sequential", "Functional", "Model") else name
    return None
