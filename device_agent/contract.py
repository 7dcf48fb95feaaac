"""The host <-> agent contract as frozen dataclasses, one per message of ``protos/agent.proto``.

Both sides work with these types only; ``wire.py`` converts them to and from protobuf, strictly
(a field one side has and the other lacks is an error), so no dict keyed by field names ever
crosses a module boundary. Each dataclass has the name and the fields of its message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from device_agent.errors import InvalidRequest

DEFAULT_CELL_TIMEOUT_S = 900.0
# A device-info call loads every delegate library and LiteRT accelerator in throwaway processes, at
# the same time, each within its probe timeout (jobs.py): the host waits this long for the answer.
LIBRARY_PROBE_S = 10.0
LITERT_PROBE_S = 60.0
DEVICE_INFO_DEADLINE_S = LITERT_PROBE_S + 30.0


class CellStatus(str, Enum):
    """A cell's outcome. The wire, the JSON and the database carry its value; ``str`` underneath,
    so it compares equal to that text (Python 3.10's floor has no StrEnum)."""

    OK = "ok"
    UNAVAILABLE = "unavailable"  # the device lacks the backend: said with the reason, never a failure
    FAILED = "failed"
    FALLBACK = "fallback"  # an accelerator that would not take the whole model: no figure, never half on the CPU
    NUMERICS = "numerics"  # NaN, Inf or all-zero outputs: a failed cell that is never scored

    def __str__(self) -> str:
        return self.value


CELL_STATUSES = tuple(status.value for status in CellStatus)
FAILING = frozenset({CellStatus.FAILED, CellStatus.NUMERICS})  # what makes a run exit 1


@dataclass(frozen=True)
class LatencyParams:
    """TFLite ``benchmark_model``'s timing settings; the defaults are the tool's defaults."""

    warmup_runs: int = 1
    warmup_seconds: float = 0.5
    min_runs: int = 50
    min_seconds: float = 1.0
    max_seconds: float = 150.0
    seed: int = 0

    def validate(self) -> None:
        """Reject impossible settings before any work (benchmark_model's ValidateParams)."""
        if self.warmup_runs < 0 or self.warmup_seconds < 0:
            raise InvalidRequest("warm-up runs and seconds must be >= 0")
        if self.min_runs < 1:
            raise InvalidRequest("min_runs must be >= 1")
        if self.min_seconds < 0 or self.max_seconds <= 0:
            raise InvalidRequest("min_seconds must be >= 0 and max_seconds > 0")
        if self.max_seconds < self.min_seconds:
            raise InvalidRequest("max_seconds must be >= min_seconds")


@dataclass(frozen=True)
class EvalParams:
    dataset_sha256: str
    preset: str = "mobilenet"
    limit: int = 0
    label_offset: int = 0
    reference_outputs_sha256: str = ""
    save_outputs: bool = False
    task: str = ""  # one of TASKS_WITH_EVIDENCE: the cell gathers TaskEvidence for the host to score
    task_outputs: tuple[str, ...] = ()  # the output tensors the task reads, by name, in the task's order
    task_labels_sha256: str = ""  # segment: the masks, uint8 .npy (images, height, width), MASK_IGNORE not scored
    task_classes: int = 0  # segment: the masks' classes
    # TFLite's detection post-process outputs (boxes, classes, scores, count), by name: the op leaves
    # the rows past count unwritten (whatever the memory held, NaN included), so they are zeroed
    postprocess_outputs: tuple[str, ...] = ()


@dataclass(frozen=True)
class EnergyParams:
    """An energy cell: ``repeats`` times an idle window then a loop window, each ``loop_seconds`` long."""

    loop_seconds: float = 5.0
    repeats: int = 3

    def validate(self) -> None:
        if not (0 < self.loop_seconds <= 600):
            raise InvalidRequest("energy loop_seconds must be in (0, 600]")
        if not (1 <= self.repeats <= 50):
            raise InvalidRequest("energy repeats must be between 1 and 50")


@dataclass(frozen=True)
class EnergyWindow:
    """One repeat of an energy cell, in seconds of the boot clock (``CLOCK_BOOTTIME``, which
    ``/proc/uptime`` reads): the host's sampler and the worker share it."""

    idle_start_s: float
    idle_end_s: float
    loop_start_s: float
    loop_end_s: float
    inferences: int


@dataclass(frozen=True)
class CellRequest:
    model_sha256: str
    backend: str
    latency: LatencyParams | None = None
    evaluation: EvalParams | None = None
    timeout_seconds: float = DEFAULT_CELL_TIMEOUT_S
    gpu_delegate: str = ""
    nnapi_delegate: str = ""
    cpu_mask: int = 0  # pin the worker to these CPUs (bit i: cpu i); 0: no pinning
    op_profile: bool = False  # after the timed samples, a separate pass with the profiler on
    start: str = "cold"  # one of START_KINDS
    energy: EnergyParams | None = None  # an energy cell: idle and loop windows instead of kept timings


# How a cell starts. cold: its start caches are cleared first (the first launch on the device);
# cold+warm: and afterwards a fresh worker starts it again with what that launch wrote; warm: the
# caches as earlier launches left them (a later repeat: an app's later launch).
START_KINDS = ("cold", "cold+warm", "warm")
HEARTBEAT = "heartbeat"  # a Progress phase the agent sends while a job is quiet: it is alive, nothing more
HEARTBEAT_S = 5.0  # the longest the agent stays silent during a job


@dataclass(frozen=True)
class Progress:
    phase: str
    fraction: float = 0.0
    message: str = ""
    worker_pid: int = 0


@dataclass(frozen=True)
class LatencyStats:
    init_ms: float
    first_ms: float
    mean: float
    std: float
    min: float
    p50: float
    p90: float
    p95: float
    p99: float
    max: float
    count: int
    warmup_count: int = 0
    samples_ms: tuple[float, ...] = ()
    warmup_total_ms: float = 0.0


@dataclass(frozen=True)
class Memory:
    """The worker's resident memory at each step of a cell, absolute, in MB.

    The model's footprint is the difference from ``baseline_rss_mb``: the worker with its runtime
    loaded and the model's op table read, before the interpreter or compiled model that is timed
    exists (Python, numpy and the runtime are in the baseline, so they are not in the deltas).
    A baseline of 0 is a result from an agent that did not measure one: no deltas then."""

    init_rss_mb: float  # after load/compile (and allocation)
    peak_rss_mb: float  # the highest over load, first invoke and timing: before the dataset is touched
    evaluate_peak_rss_mb: float = 0.0  # the whole worker's peak once the evaluation ran (0: no evaluation)
    baseline_rss_mb: float = 0.0
    first_rss_mb: float = 0.0  # after the first invoke
    overall_rss_mb: float = 0.0  # after the timed runs
    peak_source: str = ""  # how the peak was found: the kernel's high-water mark, or sampled on a thread

    def delta(self, absolute: float) -> float | None:
        """``absolute`` less the baseline; None where no baseline was measured."""
        return absolute - self.baseline_rss_mb if self.baseline_rss_mb > 0 and absolute > 0 else None


@dataclass(frozen=True)
class Delegation:
    delegated_nodes: int
    total_nodes: int
    delegate: str = ""
    fallback: bool = False  # the delegate took nothing: the model ran on the CPU kernels
    engine: str = ""  # tflite-interpreter | litert-compiled-model
    accelerator: str = ""  # what ran it, with its version
    hardware: str = ""  # an emulated device's software GPU/NPU; empty on real hardware


@dataclass(frozen=True)
class Numerics:
    """Outputs that cannot be scored: any of them makes the cell's outcome ``numerics``."""

    nan_values: int = 0
    inf_values: int = 0
    zero_vectors: int = 0
    first_image: int = -1

    @property
    def bad(self) -> bool:
        return bool(self.nan_values or self.inf_values or self.zero_vectors)

    def describe(self) -> str:
        parts = [
            f"{n} {what}"
            for n, what in (
                (self.nan_values, "NaN outputs"),
                (self.inf_values, "Inf outputs"),
                (self.zero_vectors, "all-zero output vectors"),
            )
            if n
        ]
        return ", ".join(parts) + f" (first at image {self.first_image})"


@dataclass(frozen=True)
class OpTime:
    """One node's share of the profiled invokes."""

    index: int  # in the model (source "model") or in the delegate's own graph (source "delegate")
    name: str  # as the runtime names it: CONV_2D, "Convolution (NHWC, F32) IGEMM", DISPATCH_OP
    source: str
    runs: int
    total_ms: float


@dataclass(frozen=True)
class OpProfile:
    """Where the invoke time went, from a pass after the timed samples (never inside them)."""

    engine: str = ""
    runs: int = 0
    invoke_ms: float = 0.0
    ops: tuple[OpTime, ...] = ()
    note: str = ""
    first_ms: float = 0.0  # the pass's own first run, kept out of the profile as the timed samples keep theirs


@dataclass(frozen=True)
class WarmStart:
    """The cell's model started again in a fresh worker, with the caches its cold start wrote."""

    init_ms: float = 0.0  # 0 with a note: no warm start was measured
    cache: str = ""  # what the cold start wrote: "GPU program cache", "NPU compiled model"
    cache_bytes: int = 0
    note: str = ""  # why there is no figure (no cache for this engine, nothing written, the start failed)


@dataclass(frozen=True)
class Accuracy:
    top1: float
    top3: float
    top5: float
    count: int


# Tasks whose quality the host scores from evidence the device gathers (classification is scored on
# the device from the dataset's labels, as it always was).
TASKS_WITH_EVIDENCE = ("segment", "detect", "keypoints")
MASK_IGNORE = 255  # a mask pixel with this value is not scored (COCO/VOC's "void")
DETECTION_FIELDS = 7  # image, class, score, ymin, xmin, ymax, xmax


@dataclass(frozen=True)
class TaskEvidence:
    """What the host scores a task from: small whatever the outputs' size (a confusion matrix, the
    kept detections, the keypoint rows), so no mask or raw detection head crosses the wire."""

    task: str
    classes: int = 0
    confusion: bytes = b""  # segment: int64 (classes, classes), row = mask class, column = predicted class
    detections: bytes = b""  # detect: float32 rows of DETECTION_FIELDS, box in fractions of the model's input
    points: bytes = b""  # keypoints: float32 (images, values)
    values: int = 0


SNR_CEILING_DB = 150.0  # float32 carries ~144 dB: an exact match (or anything beyond) reads "identical"


@dataclass(frozen=True)
class OutputFidelity:
    """One output tensor's agreement with the float reference's, over the evaluated images."""

    name: str
    values: int  # numbers per image
    snr_db: float  # 10 log10(reference power / error power), held inside +-150 dB (150: identical)
    cosine: float  # mean over images of the cosine similarity
    mean_abs_error: float
    max_abs_error: float
    top1_agreement: float | None = None  # only for a classifier-shaped output ([1, classes])


@dataclass(frozen=True)
class Fidelity:
    """Agreement with the float reference: the first output's top-1 agreement (when it is a
    classifier's), abs error over every value, the worst output's SNR, and each output's figures."""

    top1_agreement: float | None
    mean_abs_error: float
    max_abs_error: float
    count: int = 0
    snr_db: float | None = None  # the worst output's; None in results stored before outputs were compared
    outputs: tuple[OutputFidelity, ...] = ()


@dataclass(frozen=True)
class CellResult:
    """One cell's outcome. A model the interpreter rejects is a failed result (phase ``load``)."""

    status: CellStatus
    error: str = ""
    phase: str = ""
    latency: LatencyStats | None = None
    memory: Memory | None = None
    delegation: Delegation | None = None
    accuracy: Accuracy | None = None
    fidelity: Fidelity | None = None
    outputs_sha256: str = ""
    size_bytes: int = 0
    accuracy_note: str = ""
    evaluate_seconds: float = 0.0
    evaluated_images: int = 0
    reference_before_ms: float = 0.0  # a fixed CPU loop before the timing runs and after them:
    reference_after_ms: float = 0.0  # much slower after means the CPU slowed down (throttling)
    predictions: bytes = b""  # top-1 class per evaluated image (uint16, or uint32 past 65535 classes)
    numerics: Numerics | None = None
    op_profile: OpProfile | None = None
    warm_start: WarmStart | None = None
    task_evidence: TaskEvidence | None = None
    energy_windows: tuple[EnergyWindow, ...] = ()

    def __post_init__(self) -> None:
        try:  # the text a peer, the JSON or the database gave becomes the state it names, checked once
            object.__setattr__(self, "status", CellStatus(self.status))
        except ValueError as e:
            raise InvalidRequest(
                f"unknown cell status {self.status!r}: expected one of {', '.join(CELL_STATUSES)}"
            ) from e

    @property
    def ok(self) -> bool:
        return self.status is CellStatus.OK


def failed(phase: str, error: str) -> CellResult:
    return CellResult(status=CellStatus.FAILED, phase=phase, error=error)


@dataclass(frozen=True)
class Backend:
    name: str
    available: bool
    reason: str = ""


@dataclass(frozen=True)
class DeviceInfo:
    agent_version: str
    runtime: str
    runtime_version: str
    python: str
    abi: str
    cores: int
    android: bool
    sdk: int
    model: str
    soc: str
    properties: dict[str, str] = field(default_factory=dict)
    backends: tuple[Backend, ...] = ()
    root: str = ""
    store_free_bytes: int = 0  # free space where the agent's store is

    def backend(self, name: str) -> Backend | None:
        return next((b for b in self.backends if b.name == name), None)


@dataclass(frozen=True)
class StoreStatus:
    """The store's free space and contents: a cheap call, unlike DeviceInfo (which probes backends)."""

    free_bytes: int = 0
    files: int = 0
    stored_bytes: int = 0


@dataclass(frozen=True)
class PruneRequest:
    max_bytes: int
    max_age_days: float = 0.0
    keep_sha256: tuple[str, ...] = ()


@dataclass(frozen=True)
class PruneResponse:
    removed_files: int
    removed_bytes: int
    kept_files: int
    kept_bytes: int
