"""``host debug`` as one library call: calibrate, instrument, measure every layer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from host.codec import encode
from host.convert.graph import neighbours
from host.convert.inputs import ResolvedInputs, resolve_inputs
from host.errors import InputError
from host.quant.debug import IDEAL_RMSE_OVER_SCALE, SUSPECT_RMSE_OVER_SCALE, SUSPECT_SIGNAL_LOST, LayerError
from host.quant.feeding import samples_of
from host.quant.inputs import load_data, load_inputs, quant_request
from host.quant.options import DebugOptions

VALIDATOR_IMAGES = 20  # the quantizer's validator keeps every tensor of every image it is given: a sample is enough
EXPLORER_THRESHOLDS = ((0.03, "#d7f0dd"), (SUSPECT_SIGNAL_LOST, "#fff1c2"), (0.5, "#f9c99a"), (1.0, "#f08080"))


@dataclass(frozen=True)
class DebugReport:
    model: str
    model_sha256: str
    mode: str
    calibration_images: int
    debug_images: int
    layers: tuple[LayerError, ...]
    suggestion: tuple[str, ...] = ()  # the worst suspect and the suspects that read its output
    model_arg: str = ""  # the model as the user named it, for the commands we suggest

    @property
    def suspects(self) -> list[LayerError]:
        return [e for e in self.layers if e.suspect]


def layer_dict(error: LayerError) -> dict[str, object]:
    return {
        **encode(error),
        "score": round(error.score, 4),
        "suspect": error.suspect,
        "reasons": list(error.suspect_reasons),
    }


def report_json(report: DebugReport) -> dict[str, object]:
    return {
        "model": {"name": report.model, "sha256": report.model_sha256},
        "mode": report.mode,
        "calibration_images": report.calibration_images,
        "debug_images": report.debug_images,
        "ideal_rmse_over_scale": round(float(IDEAL_RMSE_OVER_SCALE), 4),
        "suspect_rmse_over_scale": SUSPECT_RMSE_OVER_SCALE,
        "suspect_signal_lost": SUSPECT_SIGNAL_LOST,
        "layers": [layer_dict(e) for e in report.layers],
    }


def model_explorer_data(report: DebugReport) -> dict[str, object]:
    """Model Explorer's node data: each quantized op's output tensor (its name in the float and the
    integer build alike) coloured by the signal it lost."""
    results = {e.tensor: {"value": round(e.score, 4)} for e in report.layers}
    return {"results": results, "thresholds": [{"value": v, "bgColor": c} for v, c in EXPLORER_THRESHOLDS]}


def suggest(errors: list[LayerError], consumers: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    """What to try in float first: the worst suspect, with every suspect consumer of its output
    (an outlier tensor is repaired only with its producer and its reader in float together)."""
    suspects = [e for e in errors if e.suspect]
    if not suspects:
        return ()
    worst = suspects[0]
    readers = set(consumers.get(worst.tensor, ()))
    return (worst.layer, *(e.layer for e in suspects[1:] if e.tensor in readers))


def debug_command(options: DebugOptions, say: Callable[[str], None] = lambda text: None) -> tuple[DebugReport, bytes]:
    """Calibrate once, measure every quantized op on the debug images; also the integer build the
    numbers describe (for Model Explorer)."""
    resolved = resolve_inputs(
        quant_request(options.model, options.weights, options.calibration, options.dataset, options.preset)
    )
    for note in resolved.notes:
        say(note)
    if options.mode != "integer":
        return quantizer_debug(options, resolved)
    inputs = load_inputs(resolved, options.calibration_count)
    images = (
        load_data(inputs.model.inputs(), resolved.dataset, options.count, what="debug images")
        if resolved.dataset
        else inputs.calibration
    )
    errors = inputs.rank(images)
    report = DebugReport(
        inputs.source.name,
        inputs.source.sha256,
        "integer",
        inputs.calibration.count,
        images.count,
        tuple(errors),
        suggest(errors, neighbours(inputs.calibrated.ops)),
        options.model,
    )
    return report, inputs.calibrated.build()


def quantizer_debug(options: DebugOptions, resolved: ResolvedInputs) -> tuple[DebugReport, bytes]:
    """The quantizer's ``options.mode`` build, calibrated on our images, measured per layer against
    the float build, with the quantizer's validator beside (``host.quant.quantizer_debug``)."""
    from dataclasses import replace

    from host.convert.calibration import representative_dataset_of
    from host.convert.graph import graph_ops
    from host.convert.modes import MODES_BY_NAME
    from host.convert.quantizer_route import quantize, signature_inputs
    from host.data.preprocess import get_preset
    from host.data.tensors import model_inputs
    from host.quant.inputs import float_build
    from host.quant.quantizer_debug import compare_layers, validator_figures

    source = resolved.source
    if source is None or resolved.calibration is None:
        raise InputError(f"{resolved.model} is already quantized: debug starts from a float model")
    float_model = float_build(resolved)
    fed = model_inputs(float_model)
    calibration = load_data(fed, resolved.calibration, options.calibration_count)
    preset = get_preset(resolved.preset)
    built = quantize(float_model, MODES_BY_NAME[options.mode], representative_dataset_of(calibration, preset.apply))
    images = load_data(fed, resolved.dataset, options.count, what="debug images") if resolved.dataset else calibration
    pixels = samples_of(images, preset.apply)
    ops = graph_ops(float_model)
    errors = compare_layers(float_model, built, pixels, ops)
    figures = validator_figures(
        float_model, built, pixels[:VALIDATOR_IMAGES], *signature_inputs(float_model, options.mode)
    )
    errors = [
        replace(
            e, validator_mse=figures.get(e.tensor, {}).get("mse"), validator_snr=figures.get(e.tensor, {}).get("snr")
        )
        for e in errors
    ]
    report = DebugReport(
        source.name,
        source.sha256,
        options.mode,
        calibration.count,
        images.count,
        tuple(errors),
        suggest(errors, neighbours(ops)),
        options.model,
    )
    return report, built
