"""Each layer's quantization error, per tensor and per channel, ranked.

The instrumented model (every quantized op shadowed by its float twin, fed the same quantized
input: TensorFlow's ``NumericVerify``) is run over the debug images, and for every op this module
accumulates, per output channel, the float values' spread and the quantized values' error.

Per-tensor RMSE divided by the tensor's scale (the debugger tutorial's number; 1/sqrt(12) = 0.289
is a perfect rounding) hides the most common failure: one outlier channel stretches the tensor's
range, the scale grows with it, so the RMSE in steps stays small while every other channel now
spans a step or two and its signal is gone. The per-channel numbers see it: ``signal_lost`` is the
mean over live channels of min(1, channel RMSE / channel standard deviation), and a channel whose
values cover fewer than ``COLLAPSED_LEVELS`` quantization steps is counted as collapsed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from host.convert import tfenv
from host.convert.graph import GraphOp, layers_of
from host.quant.feeding import Sample, set_inputs

IDEAL_RMSE_OVER_SCALE = 1 / np.sqrt(12)  # uniform rounding error of one step
SUSPECT_RMSE_OVER_SCALE = 0.7  # the TF debugger tutorial's line
SUSPECT_SIGNAL_LOST = 0.1  # a tenth of a channel's spread is noise, on average over channels
SUSPECT_COLLAPSED = 0.25  # a quarter of the live channels on fewer than COLLAPSED_LEVELS steps
COLLAPSED_LEVELS = 4.0
_NUMERIC_VERIFY = "NumericVerify"


@dataclass(frozen=True)
class LayerError:
    """One quantized op's error over the debug images."""

    depth: int
    layer: str
    layers: tuple[str, ...]
    op_type: str
    tensor: str
    elements: int
    scale: float
    zero_point: int
    rmse: float
    rmse_over_scale: float
    mean_error: float
    max_abs_error: float
    channels: int
    live_channels: int
    signal_lost: float
    collapsed_channels: int
    widest_channel_ratio: float  # widest channel's range / median channel's range: an outlier's mark
    validator_mse: float | None = None  # the LiteRT quantizer's own validator, per tensor (quantizer builds)
    validator_snr: float | None = None  # its signal-to-noise ratio (power ratio, not dB)
    accumulated: bool = False  # measured against the float build's tensor (what came before included), not in isolation
    added_signal_lost: float | None = None  # accumulated: its signal lost less its inputs' worst, the op's own share

    @property
    def suspect_reasons(self) -> tuple[str, ...]:
        reasons = []
        if self.accumulated and self.added_signal_lost is not None:
            if self.added_signal_lost >= SUSPECT_SIGNAL_LOST:
                reasons.append(f"adds {self.added_signal_lost:.0%} signal lost (to {self.signal_lost:.0%})")
        elif self.signal_lost >= SUSPECT_SIGNAL_LOST:
            reasons.append(f"{self.signal_lost:.0%} signal lost")
        if self.live_channels and self.collapsed_channels / self.live_channels >= SUSPECT_COLLAPSED:
            reasons.append(
                f"{self.collapsed_channels}/{self.live_channels} channels collapsed"
                + (f", one {self.widest_channel_ratio:.0f}x the median" if self.widest_channel_ratio >= 10 else "")
            )
        if (
            self.rmse_over_scale > SUSPECT_RMSE_OVER_SCALE and not self.accumulated
        ):  # in steps: an op's own rounding only
            reasons.append(f"RMSE {self.rmse_over_scale:.2f} steps (ideal {IDEAL_RMSE_OVER_SCALE:.3f})")
        return tuple(reasons)

    @property
    def suspect(self) -> bool:
        return bool(self.suspect_reasons)

    @property
    def score(self) -> float:
        """What the ranking sorts on: the signal lost per channel (0 none, 1 all). Noise measured
        against each channel's own spread is what costs accuracy; RMSE in steps only says how
        well the rounding went and breaks ties. Measured against the float build (accumulated), it is
        what the op adds to what its inputs had already lost."""
        return self.added_signal_lost if self.accumulated and self.added_signal_lost is not None else self.signal_lost


class ChannelErrors:
    """Running per-channel sums over every debug image: spread, error, range."""

    def __init__(self, channels: int) -> None:
        self.count = 0
        self.sum = np.zeros(channels)
        self.sum_sq = np.zeros(channels)
        self.err = np.zeros(channels)
        self.err_sq = np.zeros(channels)
        self.low = np.full(channels, np.inf)
        self.high = np.full(channels, -np.inf)
        self.max_abs_error = 0.0

    def add(self, reference: np.ndarray, quantized: np.ndarray) -> None:
        f = reference.reshape(-1, self.sum.size).astype(np.float64)
        d = quantized.reshape(-1, self.sum.size).astype(np.float64) - f
        self.count += f.shape[0]
        self.sum += f.sum(0)
        self.sum_sq += (f * f).sum(0)
        self.err += d.sum(0)
        self.err_sq += (d * d).sum(0)
        self.low = np.minimum(self.low, f.min(0))
        self.high = np.maximum(self.high, f.max(0))
        self.max_abs_error = max(self.max_abs_error, float(np.abs(d).max(initial=0.0)))

    def summary(self, scale: float) -> dict[str, float]:
        n = max(1, self.count)
        std = np.sqrt(np.maximum(self.sum_sq / n - (self.sum / n) ** 2, 0.0))
        rmse_c = np.sqrt(self.err_sq / n)
        spread = self.high - self.low
        live = std > 1e-6 * max(1e-12, float(std.max(initial=0.0)))
        lost = np.minimum(rmse_c[live] / std[live], 1.0) if live.any() else np.zeros(0)
        median = float(np.median(spread[live])) if live.any() else 0.0
        rmse = float(np.sqrt(self.err_sq.sum() / (n * self.sum.size)))
        return {
            "rmse": rmse,
            "rmse_over_scale": rmse / scale if scale else 0.0,
            "mean_error": float(self.err.sum() / (n * self.sum.size)),
            "max_abs_error": self.max_abs_error,
            "live_channels": int(live.sum()),
            "signal_lost": float(lost.mean()) if lost.size else 0.0,
            "collapsed_channels": int((spread[live] / scale < COLLAPSED_LEVELS).sum()) if scale else 0,
            "widest_channel_ratio": float(spread[live].max() / median) if median > 0 else 0.0,
        }


def layer_errors(debug_model: bytes, inputs: Iterable[Sample], ops: Sequence[GraphOp]) -> list[LayerError]:
    """Run the instrumented model over ``inputs`` (a preprocessed image or tensor samples each) and
    measure every quantized op; ranked worst first."""
    tf = tfenv.tf()
    with tfenv.silenced():
        interpreter = tf.lite.Interpreter(model_content=debug_model, experimental_preserve_all_tensors=True)
        interpreter.allocate_tensors()
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    verified = [op["inputs"] for op in interpreter._get_ops_details() if op["op_name"] == _NUMERIC_VERIFY]
    by_tensor = {op.tensor: op for op in ops}
    sums = {q: ChannelErrors(int(tensors[q]["shape"][-1]) if len(tensors[q]["shape"]) else 1) for q, _ in verified}
    for sample in inputs:
        set_inputs(interpreter, sample, lambda array, detail: array.astype(detail["dtype"]))
        interpreter.invoke()
        for q, f in verified:
            scale, zero_point = tensors[q]["quantization"]
            quantized = (interpreter.get_tensor(q).astype(np.float64) - zero_point) * scale
            sums[q].add(interpreter.get_tensor(f), quantized)
    results = []
    for q, _ in verified:
        name = tensors[q]["name"]
        op = by_tensor.get(name) or by_tensor.get(name[:-1])  # the quantizer appends a digit to the float op's name
        scale, zero_point = tensors[q]["quantization"]
        layers = op.layers if op else layers_of(name)
        results.append(
            LayerError(
                depth=op.depth if op else -1,
                layer=op.layer if op else (layers[-1] if layers else name),
                layers=layers,
                op_type=op.op_type if op else "?",
                tensor=op.tensor if op else name,
                elements=int(np.prod(tensors[q]["shape"])),
                scale=float(scale),
                zero_point=int(zero_point),
                channels=sums[q].sum.size,
                **sums[q].summary(float(scale)),  # type: ignore[arg-type]
            )
        )
    return rank(results)


def rank(errors: Sequence[LayerError]) -> list[LayerError]:
    return sorted(errors, key=lambda e: (-e.score, -e.rmse_over_scale, e.depth))
