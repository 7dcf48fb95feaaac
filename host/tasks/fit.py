"""Which task a bench scores, and which of the model's outputs the task reads.

``--task`` says it, or the labels' form does (class folders or a labels file: classify; masks:
segment; COCO annotations: detect; a keypoints JSON: keypoints; none: fidelity to float only),
and the choice is said. Labels that do not fit the outputs (a detector's annotations for a model
with no detection output, 21 points for a model whose outputs hold 17) are refused in one line
before any device work.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from device_agent.engines.runtime import inspection_interpreter
from host.errors import DatasetError
from host.tasks.labels import CocoAnnotations, MaskFolder, PointsFile, TaskLabels

TASKS = ("auto", "classify", "segment", "detect", "keypoints", "none")
POSTPROCESS_OP = "TFLite_Detection_PostProcess"
TaskName = Literal["classify", "segment", "detect", "keypoints", "none"]
_TASK_OF: dict[type, TaskName] = {MaskFolder: "segment", CocoAnnotations: "detect", PointsFile: "keypoints"}


@dataclass(frozen=True)
class OutputTensor:
    name: str
    shape: tuple[int, ...]

    @property
    def values(self) -> int:
        return int(np.prod(self.shape)) if self.shape else 1


@dataclass(frozen=True)
class ModelOutputs:
    """A build's outputs in the model's order, and the post-process op's outputs when it ends in one."""

    outputs: tuple[OutputTensor, ...]
    postprocess: tuple[str, ...] = ()  # boxes, classes, scores, count: the op's output tensors by name


def model_outputs(model_content: bytes) -> ModelOutputs:
    interpreter = inspection_interpreter(model_content)
    tensors = {t["index"]: str(t["name"]) for t in interpreter.get_tensor_details()}
    outputs = tuple(
        OutputTensor(str(d["name"]), tuple(int(v) for v in d["shape"])) for d in interpreter.get_output_details()
    )
    ops = interpreter._get_ops_details()  # the public API has no op listing
    post = next((op for op in ops if POSTPROCESS_OP in str(op["op_name"])), None)
    if post is None or len(post["outputs"]) != 4:
        return ModelOutputs(outputs)
    # a quantized build requantizes the op's outputs (QUANTIZE after it): follow them to the model's outputs
    follows = {
        op["inputs"][0]: op["outputs"][0] for op in ops if op["op_name"] in ("QUANTIZE", "DEQUANTIZE") and op["inputs"]
    }
    names = []
    for tensor in post["outputs"]:
        seen = {tensor}
        while tensor in follows and follows[tensor] not in seen:
            tensor = follows[tensor]
            seen.add(tensor)
        names.append(tensors[tensor])
    return ModelOutputs(outputs, tuple(names))


def chosen_task(asked: str, labels: TaskLabels | None, class_labels: bool) -> tuple[TaskName, str]:
    """The task and how it was chosen; a ``--task`` the labels contradict is refused."""
    implied: TaskName = _TASK_OF[type(labels)] if labels is not None else "classify" if class_labels else "none"
    if asked in ("", "auto"):
        how = (
            "no labels: quality is fidelity to the float build"
            if implied == "none"
            else f"from the labels' form ({_form(implied)})"
        )
        return implied, how
    if asked == "none":
        return "none", "--task none: labels are not scored, quality is fidelity to the float build"
    if asked != implied:
        given = f"the labels are {_form(implied)}" if implied != "none" else "no labels were given (--labels)"
        raise DatasetError(f"--task {asked} needs {_form(asked)}, but {given}")
    return implied, f"--task {asked}"  # the same name: asked == implied


def _form(task: str) -> str:
    return {
        "classify": "class folders or a labels file",
        "segment": "a folder of PNG masks",
        "detect": "COCO annotations (JSON)",
        "keypoints": "a keypoints JSON",
        "none": "no labels",
    }[task]


def task_outputs(task: str, model: ModelOutputs, labels: TaskLabels | None) -> tuple[str, ...]:
    """The outputs ``task`` reads from this build, by name; DatasetError when none fits."""
    if task == "segment":
        return (_segment_output(model).name,)
    if task == "detect":
        if model.postprocess:
            return model.postprocess
        head = next((o for o in model.outputs if len(o.shape) == 3 and o.shape[0] == 1 and min(o.shape[1:]) >= 5), None)
        if head is None:
            raise DatasetError(
                f"detection labels need a model ending in {POSTPROCESS_OP} (boxes, classes, scores, count) or a "
                f"[1, 4 + classes, candidates] head; its outputs are {_listed(model)}"
            )
        return (head.name,)
    if task == "keypoints":
        assert isinstance(labels, PointsFile)
        return (_points_output(model, labels.count).name,)
    return ()


def _segment_output(model: ModelOutputs) -> OutputTensor:
    found = next((o for o in model.outputs if len(o.shape) == 4 and o.shape[0] == 1 and min(o.shape[1:3]) > 1), None)
    if found is None:
        raise DatasetError(f"masks need a [1, height, width, classes] output; the model's outputs are {_listed(model)}")
    return found


def segment_geometry(model: ModelOutputs) -> tuple[int, int, int]:
    """The mask output's height, width and classes (one channel is a binary mask: 2 classes)."""
    _, height, width, channels = _segment_output(model).shape
    return height, width, max(2, channels)


def _points_output(model: ModelOutputs, points: int) -> OutputTensor:
    for per_point in (2, 3):
        found = next((o for o in model.outputs if o.values == points * per_point), None)
        if found is not None:
            return found
    raise DatasetError(
        f"the keypoints file gives {points} points per image, but no output holds {points} x 2 or x 3 "
        f"values; the model's outputs are {_listed(model)}"
    )


def _listed(model: ModelOutputs) -> str:
    return ", ".join(f"{o.name} {list(o.shape)}" for o in model.outputs)[:240]
