"""The options of ``host debug``, ``host tune`` and ``host recommend`` as declared parameters."""

from __future__ import annotations

from dataclasses import dataclass

from device_agent.engines.backends import BackendError, parse_backend
from host.convert import options as convert_options
from host.convert.modes import GROUPS
from host.devices import options as device_options
from host.params import Param, at_least, between
from host.store.location import DB

MODEL = Param(
    "",
    ".keras/.h5 file, SavedModel folder, or a built-in name (demo, mobilenet_v2, ...)",
    positional=True,
    metavar="MODEL",
)
CALIBRATION = Param(None, "images the integer build is calibrated on (the demo brings its own)", metavar="DIR")


def known_backend(value: str | None) -> str | None:
    """A backend name bench would take (checked before any calibration or device work)."""
    if value is not None:
        try:
            parse_backend(value)
        except BackendError as e:
            return f"names no backend: {e}"
    return None


QUANTIZER_MODES = GROUPS["quantizer"]


@dataclass(frozen=True)
class DebugOptions:
    """``host debug MODEL --calibration DIR --dataset DIR [--out DIR]``."""

    model: str = MODEL.field()
    calibration: str | None = CALIBRATION.field()
    dataset: str | None = Param(
        None,
        "images (or tensor samples: FILE.npz) the layers are measured on (default: the "
        "calibration data; the demo: its evaluation images)",
        metavar="DIR|FILE.npz",
    ).field()
    count: int = Param(100, "images to measure on", unit="images", metavar="N", check=at_least(1)).field()
    mode: str = Param(
        "integer",
        "the build to debug: TensorFlow's integer (its debugger: each op in isolation) or one of "
        "the LiteRT quantizer's modes (a8w8, a16w8, dynamic_wi4, ...: each op's output against the float "
        "build's, as the error accumulates, beside the quantizer's own validator)",
        metavar="MODE",
        check=lambda value: (
            None
            if value == "integer" or value in QUANTIZER_MODES
            else f"must be integer or a quantizer mode ({', '.join(QUANTIZER_MODES)})"
        ),
    ).field()
    calibration_count: int = convert_options.CALIBRATION_COUNT.field()
    weights: str | None = convert_options.WEIGHTS.field()
    preset: str | None = convert_options.PRESET.field()
    out: str | None = Param(
        None,
        "write integer.tflite, debug.json, debug.html (error by layer depth) and model-explorer.json (node data) here",
        metavar="DIR",
    ).field()
    top: int = Param(
        15, "layers shown in the console (all are written)", unit="layers", metavar="N", check=at_least(1)
    ).field()
    device_time: bool = Param(
        False,
        "also run the integer build on a device with the per-op profile: each layer's share "
        "of the device time beside its signal lost (the device as host bench picks it)",
    ).field()
    device: tuple[str, ...] = Param(
        (), "with --device-time (implied): this device", metavar="SERIAL", many=True, flag="--device"
    ).field()
    backend: str = Param(
        "cpu1", "with --device-time: the backend whose time is shown", metavar="B", check=known_backend
    ).field()
    adb_server: str | None = device_options.ADB_SERVER.field()
    db: str | None = DB.field()


@dataclass(frozen=True)
class TuneOptions:
    """``host tune MODEL --calibration DIR --dataset DIR --max-accuracy-drop POINTS --device S [--backend B] --out
    DIR``."""

    model: str = MODEL.field()
    out: str = Param(
        "",
        "the tuned build folder (host convert style: none, integer and the tuned integer+keepN, with "
        "manifest.json), plus tune.json with every candidate",
        metavar="DIR",
        required=True,
    ).field()
    calibration: str | None = CALIBRATION.field()
    dataset: str | None = Param(
        None,
        "labelled evaluation images measured on the device (class subfolders, or flat with "
        "--labels; the demo brings its own)",
        metavar="DIR",
    ).field()
    labels: str | None = Param(None, "labels file for a flat --dataset", metavar="FILE").field()
    limit: int | None = Param(
        None, "evaluate only the first N images", unit="images", metavar="N", check=at_least(1)
    ).field()
    max_accuracy_drop: float = Param(
        1.0,
        "the tuned build may lose at most this much top-1 against the float build, measured on the device",
        unit="points",
        metavar="POINTS",
        check=at_least(0),
    ).field()
    backend: str = Param(
        "cpu1",
        "the backend whose accuracy counts (its numerics differ: tune for the one you ship)",
        metavar="B",
        check=known_backend,
    ).field()
    budget: float = Param(
        30.0, "device time after which no further candidate starts", unit="minutes", metavar="MIN", check=at_least(0.1)
    ).field()
    candidates: int = Param(
        6,
        "layers the debugger ranks worst, each tried alone on the device (and with its neighbour when both rank)",
        unit="layers",
        metavar="N",
        check=at_least(1),
    ).field()
    calibration_count: int = convert_options.CALIBRATION_COUNT.field()
    weights: str | None = convert_options.WEIGHTS.field()
    preset: str | None = convert_options.PRESET.field()
    device: tuple[str, ...] = device_options.DEVICES.field()
    adb_server: str | None = device_options.ADB_SERVER.field()
    db: str | None = DB.field()
    precisions: str | None = Param(
        None,
        "choose a weight precision per layer among these (e.g. float,int8,int4) on "
        "LiteRT's quantizer route, instead of layers to keep in float: no calibration needed, "
        "a float .tflite works too",
        metavar="LIST",
    ).field()


@dataclass(frozen=True)
class RecommendOptions:
    """``host recommend RUN [--max-size MB] [--max-latency MS] [--min-accuracy PCT] [--min-snr DB] [--backend B]``."""

    run_id: str = Param("latest", "the run (its id, or latest)", positional=True, metavar="RUN").field()
    max_size: float | None = Param(
        None, "largest model file allowed", unit="MB", metavar="MB", check=at_least(0)
    ).field()
    max_latency: float | None = Param(
        None, "slowest p50 latency allowed", unit="ms", metavar="MS", check=at_least(0)
    ).field()
    min_accuracy: float | None = Param(
        None,
        "lowest top-1 (or task metric: mIoU, mAP, PCK) allowed, in percent (default: within 1 point of the float "
        "build's)",
        unit="%",
        metavar="PCT",
        check=between(0, 100),
    ).field()
    min_snr: float | None = Param(
        None,
        "without labels, the lowest worst-output SNR against the float build allowed (default: 30)",
        unit="dB",
        metavar="DB",
        check=between(-150, 150),
    ).field()
    backend: str | None = Param(
        None,
        "the backend the app will use (default: the one where the pick is fastest)",
        metavar="B",
        check=known_backend,
    ).field()
    device: str | None = Param(
        None, "the device whose cells count (default: the run's first)", metavar="SERIAL"
    ).field()
    prefer: str = Param(
        "latency",
        "what the pick minimises above the quality floor: latency (p50), or energy (mJ per inference, from a "
        "phone's own meter: builds without a figure, below resolution or from the emulated model are left out)",
        choices=("latency", "energy"),
    ).field()
    report: str | None = Param(
        None, "write the run's HTML report with this recommendation at the top", metavar="FILE.html"
    ).field()
    db: str | None = DB.field()
