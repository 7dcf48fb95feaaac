"""``host debug MODEL --mode a8w8``: the same per-layer and per-channel figures for a build of
LiteRT's quantizer, with the quantizer's own validator beside them.

TensorFlow's debugger feeds each quantized op the quantized input its float twin gets, so its
numbers are each op's own error. A quantizer build has no such twin: here both builds run over the
same images with every tensor kept, and each op's output is compared with the float build's
tensor of the same name, so an op's figures include what the ops before it lost (the error as it
accumulates, which is what the outputs see). The quantizer's validator gives one MSE and one SNR
per tensor; the per-channel ``signal_lost`` is what sees an outlier channel stretching a tensor's
scale, which a per-tensor MSE averages away. Both are shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from device_agent.engines.runtime import TensorDetail
from host.convert.graph import GraphOp
from host.convert.tfenv import silenced
from host.quant.debug import ChannelErrors, LayerError, rank
from host.quant.feeding import Sample, by_signature, set_inputs


def _interpreter(model: bytes) -> Any:
    from ai_edge_litert.interpreter import Interpreter

    with silenced():  # its native "INFO:" line
        interpreter = Interpreter(model_content=model, experimental_preserve_all_tensors=True)
        interpreter.allocate_tensors()
    return interpreter


def _as_input(values: np.ndarray, detail: TensorDetail) -> np.ndarray:
    dtype: np.dtype[Any] = np.dtype(detail["dtype"])
    if dtype == np.float32:
        return values.astype(np.float32)
    scale, zero_point = detail["quantization"]
    if not scale:  # an index input (token ids): fed as it is
        return values.astype(dtype)
    info = np.iinfo(dtype)
    return np.clip(np.round(values / scale + zero_point), info.min, info.max).astype(dtype)


def compare_layers(
    float_model: bytes, quantized_model: bytes, inputs: Sequence[Sample], ops: Sequence[GraphOp]
) -> list[LayerError]:
    """Each op's output in the quantized build against the float build's, per channel, over
    ``inputs`` (preprocessed images or tensor samples); ranked worst first."""
    reference, target = _interpreter(float_model), _interpreter(quantized_model)
    ours = {t["name"]: t for t in reference.get_tensor_details()}
    theirs = {t["name"]: t for t in target.get_tensor_details()}
    pairs = [
        (op, ours[op.tensor], theirs[op.tensor])
        for op in ops
        if op.tensor in ours
        and op.tensor in theirs
        and list(ours[op.tensor]["shape"]) == list(theirs[op.tensor]["shape"])
    ]
    sums = {op.tensor: ChannelErrors(int(f["shape"][-1]) if len(f["shape"]) else 1) for op, f, _ in pairs}
    for sample in inputs:
        set_inputs(reference, sample, _as_input)
        set_inputs(target, sample, _as_input)
        reference.invoke()
        target.invoke()
        for op, f, q in pairs:
            scale, zero_point = q["quantization"]
            values = target.get_tensor(q["index"]).astype(np.float64)
            sums[op.tensor].add(reference.get_tensor(f["index"]), (values - zero_point) * scale if scale else values)
    summaries = {op.tensor: sums[op.tensor].summary(float(q["quantization"][0])) for op, _, q in pairs}
    return rank(
        [
            LayerError(
                depth=op.depth,
                layer=op.layer,
                layers=op.layers,
                op_type=op.op_type,
                tensor=op.tensor,
                elements=int(np.prod(q["shape"])),
                scale=float(q["quantization"][0]),
                zero_point=int(q["quantization"][1]),
                channels=sums[op.tensor].sum.size,
                accumulated=True,
                added_signal_lost=_added(op, summaries),
                **summaries[op.tensor],  # type: ignore[arg-type]
            )
            for op, _, q in pairs
        ]
    )


def _added(op: GraphOp, summaries: dict[str, dict[str, float]]) -> float:
    """The op's own share: its signal lost less the worst of its inputs' (a model input: none)."""
    before = [summaries[name]["signal_lost"] for name in op.inputs if name in summaries]
    return max(0.0, summaries[op.tensor]["signal_lost"] - max(before, default=0.0))


def validator_figures(
    float_model: bytes, quantized_model: bytes, inputs: Sequence[Sample], signature: str, input_names: Sequence[str]
) -> dict[str, dict[str, float]]:
    """The quantizer's validator over the same samples: per tensor name, its MSE and SNR."""
    from ai_edge_quantizer import model_validator
    from ai_edge_quantizer.utils.validation_utils import ValidationErrorMetric

    from host.convert.quantizer_route import quiet

    data = {signature: by_signature(inputs, input_names)}
    with quiet():
        result = model_validator.compare_model(
            float_model, quantized_model, data, [ValidationErrorMetric.MSE, ValidationErrorMetric.SNR], compare_fns=None
        )
    compared = result.get_signature_comparison_result(signature)
    tensors = {**compared.intermediate_tensors, **compared.output_tensors}
    return {name: {k: float(v) for k, v in values.items()} for name, values in tensors.items()}
