"""Accuracy (top-1/3/5) and fidelity against reference outputs.

Inputs are the dataset's uint8 images through the named preset, then quantized with the model's
own input scale and zero point when its input is uint8/int8; outputs are dequantized with the
output's parameters. Images run in dataset order, the same for every mode and backend.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from device_agent.contract import Accuracy, Fidelity
from device_agent.preprocess import get_preset
from device_agent.runtime import TensorInfo, tensor_info

PROGRESS_EVERY = 64  # images between progress callbacks


def quantize_input(values: np.ndarray, tensor: TensorInfo) -> np.ndarray:
    if tensor.dtype == np.float32:
        return values.astype(np.float32, copy=False)
    if not tensor.scale:
        raise ValueError(f"model input is {tensor.dtype.name} without quantization parameters")
    info = np.iinfo(tensor.dtype)
    return np.clip(np.round(values / tensor.scale + tensor.zero_point), info.min, info.max).astype(tensor.dtype)


def dequantize_output(values: np.ndarray, tensor: TensorInfo) -> np.ndarray:
    if tensor.dtype == np.float32:
        return values.astype(np.float32, copy=False)
    if not tensor.scale:
        return values.astype(np.float32)
    return (values.astype(np.float32) - tensor.zero_point) * tensor.scale


def run_outputs(
    interpreter: Any, images: np.ndarray, preset: str, on_progress: Callable[[int, int], None] | None = None
) -> np.ndarray:
    """Dequantized outputs (N, classes) of the model over all images, one invoke per image."""
    preprocess = get_preset(preset).apply
    source, target = tensor_info(interpreter.get_input_details()[0]), tensor_info(interpreter.get_output_details()[0])
    if tuple(images.shape[1:]) != source.shape[1:]:
        raise ValueError(f"dataset images are {tuple(images.shape[1:])}, the model takes {source.shape[1:]}")
    set_input, invoke, get_output = interpreter.set_tensor, interpreter.invoke, interpreter.get_tensor
    total = images.shape[0]
    outputs = np.empty((total, int(np.prod(target.shape[1:]))), dtype=target.dtype)
    # one image at a time end to end: a preprocessed batch of 224x224 floats would not fit in
    # cache, and measured ~25% slower than this loop
    for i in range(total):
        set_input(source.index, quantize_input(preprocess(images[i : i + 1]), source))
        invoke()
        outputs[i] = get_output(target.index).reshape(-1)
        if on_progress and (i + 1) % PROGRESS_EVERY == 0:
            on_progress(i + 1, total)
    if on_progress:
        on_progress(total, total)
    return dequantize_output(outputs, target)


def accuracy(outputs: np.ndarray, labels: np.ndarray) -> Accuracy | None:
    """Top-k over the labelled images (label >= 0); None when nothing is labelled."""
    known = labels >= 0
    if not known.any():
        return None
    scores, truth = outputs[known], labels[known]
    k = min(5, scores.shape[1])
    # stable descending order: ties go to the lower class index, deterministically
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    hits = top == truth[:, None]
    return Accuracy(
        top1=float(hits[:, :1].any(axis=1).mean()),
        top3=float(hits[:, :3].any(axis=1).mean()),
        top5=float(hits[:, :5].any(axis=1).mean()),
        count=int(known.sum()),
    )


def fidelity(outputs: np.ndarray, reference: np.ndarray) -> Fidelity:
    if outputs.shape != reference.shape:
        raise ValueError(f"reference outputs are {reference.shape}, this cell's are {outputs.shape}")
    diff = np.abs(outputs.astype(np.float32) - reference.astype(np.float32))
    agreement = (outputs.argmax(axis=1) == reference.argmax(axis=1)).mean()
    return Fidelity(float(agreement), float(diff.mean()), float(diff.max()), int(outputs.shape[0]))
