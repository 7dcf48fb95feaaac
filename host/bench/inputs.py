"""Everything a bench needs from the host before a device is touched: models and the dataset."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

import numpy as np

from device_agent.contract import CellResult
from device_agent.storage.dataset import DatasetReader
from host.bench.config import BenchConfig, EvaluationData
from host.convert.cache import ConversionCache
from host.convert.converter import convert_model
from host.convert.given import ModelFile, given_note
from host.convert.inputs import InputRequest, ResolvedInputs, resolve_inputs
from host.convert.inspect import classifier_output_problem, inspect_tflite
from host.convert.modes import MODES
from host.convert.options import ConversionSettings
from host.convert.records import ConversionListener, ConversionReport
from host.data.datasets import DatasetSlices, check_labels, check_listed, slice_dataset
from host.data.images import ImageEntry
from host.data.packed import pack
from host.data.tensors import TensorSamples, is_tensor_data, model_inputs, pack_tensors
from host.errors import DatasetError
from host.paths import cache_dir
from host.results import DatasetInfo, ModelInfo, RunStats, TaskMetrics
from host.tasks.fit import model_outputs, task_outputs
from host.tasks.labels import is_task_labels
from host.tasks.plan import TaskPlan, choose, prepare


class InputsListener(ConversionListener, Protocol):
    def stage(self, text: str) -> None: ...


@dataclass(frozen=True)
class PreparedInputs:
    model: ModelInfo
    conversion: ConversionReport | None  # None when the .tflite files were given
    models: dict[str, ModelFile]
    failed_modes: dict[str, str]
    modes: list[str]
    dataset: DatasetInfo
    dataset_file: Path | None
    preset: str
    dataset_file_sha256: str = (
        ""  # the packed file's name on the device; the run evaluates its first dataset.count images
    )
    labels: np.ndarray | None = None  # each evaluated image's class (label offset applied; -1 unknown)
    label_offset: int = 0  # added to the dataset's labels (the agent adds it too)
    notes: list[str] = field(default_factory=list)
    evaluated: tuple[ImageEntry, ...] = ()  # the images the device evaluates, in its order (unreadable ones left out)
    task: TaskPlan = TaskPlan("none", "no dataset")

    def task_metrics(self, result: CellResult) -> TaskMetrics | None:
        """The cell's segment/detect/keypoints score from the evidence its worker gathered."""
        return self.task.score(result.task_evidence, result.evaluated_images)

    def stored_modes(self) -> list[str]:
        """Modes in the table's order; names the table does not know (given files) after, as given."""
        wanted = list(dict.fromkeys([*self.modes, *self.failed_modes]))
        known = [m.name for m in MODES if m.name in wanted]
        return known + [m for m in wanted if m not in known]

    def outcomes(self, predictions: bytes) -> bytes:
        """One bit per evaluated image, set when its top-1 prediction is its label (packed): what a
        paired accuracy comparison (McNemar) needs, 6 KB for 50,000 images."""
        if not predictions or self.labels is None:
            return b""
        width = 2 if len(predictions) == 2 * len(self.labels) else 4
        predicted = np.frombuffer(predictions, dtype="<u2" if width == 2 else "<u4").astype(np.int64)
        if len(predicted) != len(self.labels):
            return b""
        return bytes(np.packbits(predicted == self.labels))

    def conversion_stats(self) -> RunStats:
        results = self.conversion.results if self.conversion else ()
        return RunStats(
            converted=sum(1 for r in results if r.ok and not r.cached),
            conversion_cache_hits=sum(1 for r in results if r.cached),
        )

    def files(self) -> list[tuple[Path, str]]:
        """(path, sha256) of every file the device needs: the models and the packed dataset."""
        files = [(m.path, m.sha256) for m in self.models.values()]
        if self.dataset_file is not None and self.dataset_file_sha256:
            files.append((self.dataset_file, self.dataset_file_sha256))
        if self.task.masks is not None:
            files.append(self.task.masks)
        return files


def input_request(config: BenchConfig) -> InputRequest:
    """The bench's part of the one input step (``host.convert.inputs``)."""
    c, d = config.conversion, config.data
    return InputRequest(
        config.model,
        weights=c.weights,
        dataset=d.dataset,
        labels=d.labels,
        calibration=c.calibration,
        train_data=c.train_data,
        keep_float=c.keep_float,
        preset=c.preset,
        modes=config.requested_modes,
        as_built=config.as_built,
    )


def _slices(data: EvaluationData, resolved: ResolvedInputs, settings: ConversionSettings) -> DatasetSlices | None:
    """Evaluation images, and calibration images carved from them only when a mode needs them."""
    if resolved.dataset is None or is_tensor_data(resolved.dataset):
        return None
    needs_calibration = resolved.given is None and (
        settings.mode_request.needs_calibration or bool(resolved.keep_float)
    )
    return slice_dataset(
        resolved.dataset,
        labels_file=None if is_task_labels(resolved.labels) else resolved.labels,
        limit=data.limit,
        calibration_count=settings.calibration_count,
        take_calibration=needs_calibration and resolved.calibration is None,
    )


@dataclass(frozen=True)
class ResolvedBench:
    """What a bench was given, resolved and listed (no conversion, no image decoded): done before
    any device is started, so a corrupt model or an empty image folder costs no emulator start."""

    resolved: ResolvedInputs
    slices: DatasetSlices | None
    task: TaskPlan
    tensors: TensorSamples | None = None  # a dataset of .npz/.npy samples instead of images


def resolve_bench_inputs(config: BenchConfig) -> ResolvedBench:
    resolved = resolve_inputs(input_request(config))
    slices = _slices(config.data, resolved, config.conversion)
    if slices is not None:
        check_listed(slices, config.data.label_offset)
    tensors = _tensor_samples(resolved.dataset, resolved.labels)
    if resolved.given is not None:  # given builds are checked against the data now, before any device starts
        _check_given(resolved.given.files, slices, tensors)
    task = choose(
        config.data.task,
        resolved.labels,
        bool(slices and slices.labelled),
        config.data.crop,
        slices.pool if slices else (),
        slices.evaluation if slices else (),
    )
    if resolved.given is not None and task.scored:  # given builds: whether the labels fit is known before any device
        first = next(iter(resolved.given.files.values()))
        task_outputs(task.task, model_outputs(first.path.read_bytes()), task.labels)
    return ResolvedBench(resolved, slices, task, tensors)


def _check_given(models: dict[str, ModelFile], slices: DatasetSlices | None, tensors: TensorSamples | None) -> None:
    if slices is not None:
        _check_image_model(models, slices.name)
    reference = models.get("none") or next(iter(models.values()), None)
    if tensors is not None and reference is not None:
        next(tensors.fed(model_inputs(reference.path.read_bytes()), 1))  # the first sample must fit, named and shaped


def _tensor_samples(dataset: Path | None, labels: Path | None) -> TensorSamples | None:
    if dataset is None or not is_tensor_data(dataset):
        return None
    if labels is not None:
        raise DatasetError(
            f"--labels score images; {dataset} holds tensor samples, whose quality is fidelity to the float build"
        )
    return TensorSamples(dataset)


def prepare_inputs(config: BenchConfig, listener: InputsListener, first: ResolvedBench | None = None) -> PreparedInputs:
    """The builds and the packed evaluation images; ``first`` is what ``resolve_bench_inputs`` found already."""
    first = first or resolve_bench_inputs(config)
    resolved, slices = first.resolved, first.slices
    inputs = _given(resolved) if resolved.given else _converted(resolved, config.conversion, slices, listener)
    inputs = replace(inputs, label_offset=config.data.label_offset, notes=[*resolved.notes, *inputs.notes])
    if first.tensors is not None:
        return _with_task(first.task, _with_tensors(config.data, first.tensors, inputs))
    return _with_task(first.task, _with_dataset(config.data, slices, resolved.demo_data, inputs, listener, first.task))


def _with_tensors(data: EvaluationData, samples: TensorSamples, inputs: PreparedInputs) -> PreparedInputs:
    """Tensor samples packed for the device, lined up with the inputs of the float build (else the first)."""
    reference = inputs.models.get("none") or next(iter(inputs.models.values()), None)
    if reference is None:
        return inputs
    fed = model_inputs(reference.path.read_bytes())
    packed = pack_tensors(samples, fed, data.limit or samples.count, cache_dir() / "datasets")
    labels = np.asarray(packed.labels, dtype=np.int64)
    labelled = bool((labels >= 0).any())
    if labelled:
        _check_labels_score(inputs, samples.path.name)
        _check_sample_labels(labels + data.label_offset, inputs.model.classes, samples.path)
    dataset = DatasetInfo(samples.path.name, packed.identity, packed.count, labelled)
    quality = "top-k on their labels and fidelity to the float build" if labelled else "fidelity to the float build"
    notes = [
        f"dataset: {packed.count} tensor sample(s) from {samples.path.name} for input(s) "
        f"{', '.join(i.keys[-1] for i in fed)}: no preprocessing; quality is {quality}"
    ]
    kept = [n for n in inputs.notes if not n.startswith("preprocessing preset")]  # samples are fed as they are
    return replace(
        inputs,
        dataset=dataset,
        dataset_file=packed.path,
        dataset_file_sha256=packed.file_sha256,
        notes=[*kept, *notes],
        labels=np.where(labels >= 0, labels + data.label_offset, -1) if labelled else None,
    )


def _check_sample_labels(labels: np.ndarray, classes: int, path: Path) -> None:
    known = labels[labels >= 0]
    if classes > 0 and known.size and (known.max() >= classes or known.min() < 0):
        bad = int(known.max() if known.max() >= classes else known.min())
        raise DatasetError(
            f"{path}: label {bad} (with --label-offset) is outside the model's {classes} classes (0..{classes - 1})"
        )


def _with_task(task: TaskPlan, inputs: PreparedInputs) -> PreparedInputs:
    """The task's plan lined up with the builds and the evaluated images (masks packed beside them)."""
    if inputs.dataset_file is None:
        return inputs
    builds = {m.sha256: m.path for m in inputs.models.values()}
    shape = inputs.model.input_shape
    size = (shape[1], shape[2]) if len(shape) >= 3 else (0, 0)
    plan = prepare(task, builds, list(inputs.evaluated), size, inputs.label_offset, cache_dir() / "datasets")
    unscored = [mode for mode, m in inputs.models.items() if plan.scored and m.sha256 not in plan.outputs]
    notes = [f"task: {plan.task} ({plan.how})"] if plan.scored or plan.how.startswith("--task") else []
    notes += (
        [f"task {plan.task} not scored for {', '.join(unscored)}: its outputs do not fit the labels"]
        if unscored
        else []
    )
    return replace(inputs, task=plan, notes=[*inputs.notes, *notes])


def _given(resolved: ResolvedInputs) -> PreparedInputs:
    assert resolved.given is not None
    models = resolved.given.files
    return PreparedInputs(
        model=replace(resolved.given.model, preset=resolved.preset),
        conversion=None,
        models=models,
        failed_modes={},
        modes=list(models),
        dataset=DatasetInfo(),
        dataset_file=None,
        preset=resolved.preset,
        notes=[given_note(resolved.model)],
    )


def _converted(
    resolved: ResolvedInputs, settings: ConversionSettings, slices: DatasetSlices | None, listener: InputsListener
) -> PreparedInputs:
    source = resolved.source
    assert source is not None
    calibration_entries = slices.calibration if slices else ()
    runnable, skipped = resolved.select(settings.mode_request, bool(calibration_entries))
    out = cache_dir() / "bench-models" / source.sha256[:16]
    report = convert_model(
        source,
        runnable,
        out,
        resolved.convert_options(settings, calibration_entries),
        cache=ConversionCache(cache_dir() / "convert"),
        skipped=skipped,
        listener=listener,
    )
    models = {
        r.mode: ModelFile(r.mode, Path(r.path or ""), r.sha256 or "", r.size_bytes or 0) for r in report.results if r.ok
    }
    return PreparedInputs(
        model=ModelInfo(source.name, source.sha256, report.model.input_shape, report.model.preset, _classes(models)),
        conversion=report,
        models=models,
        failed_modes={r.mode: f"conversion failed: {r.error}" for r in report.results if not r.ok},
        modes=[m.name for m in runnable] + [r.mode for r in report.results if r.variant_of],
        dataset=DatasetInfo(),
        dataset_file=None,
        preset=report.model.preset,
        notes=[f"mode {mode} skipped: {reason}" for mode, reason in skipped.items()],
    )


def _classes(models: dict[str, ModelFile]) -> int:
    """The number of scores the model gives (its output's size), read from one converted build."""
    for model in models.values():
        shape = inspect_tflite(model.path.read_bytes()).output_shape
        return int(np.prod(shape[1:])) if len(shape) > 1 else 0
    return 0


def _with_dataset(
    data: EvaluationData,
    slices: DatasetSlices | None,
    uses_demo_data: bool,
    inputs: PreparedInputs,
    listener: InputsListener,
    task: TaskPlan,
) -> PreparedInputs:
    """Load the evaluation images at the model's input size and pack them for the device."""
    if slices is None:
        inputs.notes.append("no dataset given (--dataset DIR): latency only, accuracy and fidelity are n/a")
        return inputs
    _check_image_model(inputs.models, slices.name)
    if slices.labelled:
        _check_labels_score(inputs, slices.name)
    check_labels(slices.evaluation, inputs.model.classes, data.label_offset)
    shape = inputs.model.input_shape
    progress = _PackProgress(listener)
    packed = pack(
        slices.pool,
        len(slices.evaluation),
        (shape[1], shape[2]),
        data.crop,
        cache_dir() / "datasets",
        on_progress=progress,
    )
    progress.finish(packed.count)
    if packed.skipped:
        first = Path(packed.skipped[0]).name
        inputs.notes.append(
            f"{len(packed.skipped)} unreadable evaluation image(s) skipped (first: {first}; damaged, not an "
            "image, or past Pillow's pixel limit)"
        )
    if not slices.labelled and not task.scored:
        inputs.notes.append("the dataset has no labels: accuracy is n/a (give class subfolders or --labels)")
    dataset = DatasetInfo("demo" if uses_demo_data else slices.name, packed.identity, packed.count, slices.labelled)
    with DatasetReader(packed.path, packed.count) as reader:
        labels = reader.labels()
    labels = np.where(labels >= 0, labels + data.label_offset, -1)
    unreadable = set(packed.skipped)
    evaluated = tuple(e for e in slices.pool[: len(slices.evaluation)] if str(e.path) not in unreadable)
    return replace(
        inputs,
        dataset=dataset,
        dataset_file=packed.path,
        dataset_file_sha256=packed.file_sha256,
        labels=labels,
        evaluated=evaluated,
    )


def _check_image_model(models: dict[str, ModelFile], dataset: str) -> None:
    """Images feed one RGB input: a model that takes anything else needs tensor samples."""
    build = next(iter(models.values()), None)
    if build is None:
        return
    fed = model_inputs(build.path.read_bytes())
    if len(fed) != 1 or len(fed[0].shape) != 4 or fed[0].shape[3] != 3:
        listed = ", ".join(f"{i.keys[-1]} {list(i.shape)}" for i in fed)
        raise DatasetError(
            f"{dataset} holds images, but the model takes {listed}: give --dataset FILE.npz (or a folder of "
            ".npz samples) with an array per input, keyed by input name"
        )


def _check_labels_score(inputs: PreparedInputs, dataset: str) -> None:
    """Class labels score a classifier only: given to a model that is not one, they would print a
    top-1 of a flattened box or mask output as if it meant something. Refused before the device."""
    build = next(iter(inputs.models.values()), None)
    if build is None:
        return
    problem = classifier_output_problem(build.path.read_bytes())
    if problem is not None:
        raise DatasetError(
            f"{dataset} has class labels, but {problem}: labels score a classifier's top-k; "
            "bench without labels (a folder of images with no class subfolders) to measure fidelity to the float build"
        )


class _PackProgress:
    """Packing progress as stage lines: the first, then at most one every 5 s, with images/s."""

    def __init__(self, listener: InputsListener) -> None:
        self.listener, self.started, self.last, self.decoded = listener, time.monotonic(), 0.0, False

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if not self.decoded or now - self.last >= 5.0:
            rate = done / max(now - self.started, 1e-6)
            self.listener.stage(f"packing evaluation images: {done}/{total} decoded ({rate:.0f} images/s)")
            self.last, self.decoded = now, True

    def finish(self, count: int) -> None:
        if not self.decoded:
            self.listener.stage(f"evaluation images: {count} already packed (reused)")
