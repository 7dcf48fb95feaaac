from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DeviceInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Backend(_message.Message):
    __slots__ = ("name", "available", "reason")
    NAME_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    name: str
    available: bool
    reason: str
    def __init__(self, name: _Optional[str] = ..., available: _Optional[bool] = ..., reason: _Optional[str] = ...) -> None: ...

class DeviceInfo(_message.Message):
    __slots__ = ("agent_version", "runtime", "runtime_version", "python", "abi", "cores", "android", "sdk", "model", "soc", "properties", "backends", "root", "store_free_bytes")
    class PropertiesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    AGENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_VERSION_FIELD_NUMBER: _ClassVar[int]
    PYTHON_FIELD_NUMBER: _ClassVar[int]
    ABI_FIELD_NUMBER: _ClassVar[int]
    CORES_FIELD_NUMBER: _ClassVar[int]
    ANDROID_FIELD_NUMBER: _ClassVar[int]
    SDK_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    SOC_FIELD_NUMBER: _ClassVar[int]
    PROPERTIES_FIELD_NUMBER: _ClassVar[int]
    BACKENDS_FIELD_NUMBER: _ClassVar[int]
    ROOT_FIELD_NUMBER: _ClassVar[int]
    STORE_FREE_BYTES_FIELD_NUMBER: _ClassVar[int]
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
    properties: _containers.ScalarMap[str, str]
    backends: _containers.RepeatedCompositeFieldContainer[Backend]
    root: str
    store_free_bytes: int
    def __init__(self, agent_version: _Optional[str] = ..., runtime: _Optional[str] = ..., runtime_version: _Optional[str] = ..., python: _Optional[str] = ..., abi: _Optional[str] = ..., cores: _Optional[int] = ..., android: _Optional[bool] = ..., sdk: _Optional[int] = ..., model: _Optional[str] = ..., soc: _Optional[str] = ..., properties: _Optional[_Mapping[str, str]] = ..., backends: _Optional[_Iterable[_Union[Backend, _Mapping]]] = ..., root: _Optional[str] = ..., store_free_bytes: _Optional[int] = ...) -> None: ...

class StatFileRequest(_message.Message):
    __slots__ = ("sha256",)
    SHA256_FIELD_NUMBER: _ClassVar[int]
    sha256: str
    def __init__(self, sha256: _Optional[str] = ...) -> None: ...

class StatFileResponse(_message.Message):
    __slots__ = ("exists", "size_bytes")
    EXISTS_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    exists: bool
    size_bytes: int
    def __init__(self, exists: _Optional[bool] = ..., size_bytes: _Optional[int] = ...) -> None: ...

class AdoptFileRequest(_message.Message):
    __slots__ = ("sha256",)
    SHA256_FIELD_NUMBER: _ClassVar[int]
    sha256: str
    def __init__(self, sha256: _Optional[str] = ...) -> None: ...

class PruneRequest(_message.Message):
    __slots__ = ("max_bytes", "max_age_days", "keep_sha256")
    MAX_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_AGE_DAYS_FIELD_NUMBER: _ClassVar[int]
    KEEP_SHA256_FIELD_NUMBER: _ClassVar[int]
    max_bytes: int
    max_age_days: float
    keep_sha256: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, max_bytes: _Optional[int] = ..., max_age_days: _Optional[float] = ..., keep_sha256: _Optional[_Iterable[str]] = ...) -> None: ...

class StoreStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class StoreStatus(_message.Message):
    __slots__ = ("free_bytes", "files", "stored_bytes")
    FREE_BYTES_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    STORED_BYTES_FIELD_NUMBER: _ClassVar[int]
    free_bytes: int
    files: int
    stored_bytes: int
    def __init__(self, free_bytes: _Optional[int] = ..., files: _Optional[int] = ..., stored_bytes: _Optional[int] = ...) -> None: ...

class PruneResponse(_message.Message):
    __slots__ = ("removed_files", "removed_bytes", "kept_files", "kept_bytes")
    REMOVED_FILES_FIELD_NUMBER: _ClassVar[int]
    REMOVED_BYTES_FIELD_NUMBER: _ClassVar[int]
    KEPT_FILES_FIELD_NUMBER: _ClassVar[int]
    KEPT_BYTES_FIELD_NUMBER: _ClassVar[int]
    removed_files: int
    removed_bytes: int
    kept_files: int
    kept_bytes: int
    def __init__(self, removed_files: _Optional[int] = ..., removed_bytes: _Optional[int] = ..., kept_files: _Optional[int] = ..., kept_bytes: _Optional[int] = ...) -> None: ...

class UploadChunk(_message.Message):
    __slots__ = ("sha256", "size_bytes", "data")
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    sha256: str
    size_bytes: int
    data: bytes
    def __init__(self, sha256: _Optional[str] = ..., size_bytes: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...

class UploadResponse(_message.Message):
    __slots__ = ("sha256", "size_bytes", "already_present")
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    ALREADY_PRESENT_FIELD_NUMBER: _ClassVar[int]
    sha256: str
    size_bytes: int
    already_present: bool
    def __init__(self, sha256: _Optional[str] = ..., size_bytes: _Optional[int] = ..., already_present: _Optional[bool] = ...) -> None: ...

class LatencyParams(_message.Message):
    __slots__ = ("warmup_runs", "warmup_seconds", "min_runs", "min_seconds", "max_seconds", "seed")
    WARMUP_RUNS_FIELD_NUMBER: _ClassVar[int]
    WARMUP_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MIN_RUNS_FIELD_NUMBER: _ClassVar[int]
    MIN_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MAX_SECONDS_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    warmup_runs: int
    warmup_seconds: float
    min_runs: int
    min_seconds: float
    max_seconds: float
    seed: int
    def __init__(self, warmup_runs: _Optional[int] = ..., warmup_seconds: _Optional[float] = ..., min_runs: _Optional[int] = ..., min_seconds: _Optional[float] = ..., max_seconds: _Optional[float] = ..., seed: _Optional[int] = ...) -> None: ...

class EnergyParams(_message.Message):
    __slots__ = ("loop_seconds", "repeats")
    LOOP_SECONDS_FIELD_NUMBER: _ClassVar[int]
    REPEATS_FIELD_NUMBER: _ClassVar[int]
    loop_seconds: float
    repeats: int
    def __init__(self, loop_seconds: _Optional[float] = ..., repeats: _Optional[int] = ...) -> None: ...

class EnergyWindow(_message.Message):
    __slots__ = ("idle_start_s", "idle_end_s", "loop_start_s", "loop_end_s", "inferences")
    IDLE_START_S_FIELD_NUMBER: _ClassVar[int]
    IDLE_END_S_FIELD_NUMBER: _ClassVar[int]
    LOOP_START_S_FIELD_NUMBER: _ClassVar[int]
    LOOP_END_S_FIELD_NUMBER: _ClassVar[int]
    INFERENCES_FIELD_NUMBER: _ClassVar[int]
    idle_start_s: float
    idle_end_s: float
    loop_start_s: float
    loop_end_s: float
    inferences: int
    def __init__(self, idle_start_s: _Optional[float] = ..., idle_end_s: _Optional[float] = ..., loop_start_s: _Optional[float] = ..., loop_end_s: _Optional[float] = ..., inferences: _Optional[int] = ...) -> None: ...

class EvalParams(_message.Message):
    __slots__ = ("dataset_sha256", "preset", "limit", "label_offset", "reference_outputs_sha256", "save_outputs", "task", "task_outputs", "task_labels_sha256", "task_classes", "postprocess_outputs")
    DATASET_SHA256_FIELD_NUMBER: _ClassVar[int]
    PRESET_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    LABEL_OFFSET_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_OUTPUTS_SHA256_FIELD_NUMBER: _ClassVar[int]
    SAVE_OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    TASK_OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    TASK_LABELS_SHA256_FIELD_NUMBER: _ClassVar[int]
    TASK_CLASSES_FIELD_NUMBER: _ClassVar[int]
    POSTPROCESS_OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    dataset_sha256: str
    preset: str
    limit: int
    label_offset: int
    reference_outputs_sha256: str
    save_outputs: bool
    task: str
    task_outputs: _containers.RepeatedScalarFieldContainer[str]
    task_labels_sha256: str
    task_classes: int
    postprocess_outputs: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, dataset_sha256: _Optional[str] = ..., preset: _Optional[str] = ..., limit: _Optional[int] = ..., label_offset: _Optional[int] = ..., reference_outputs_sha256: _Optional[str] = ..., save_outputs: _Optional[bool] = ..., task: _Optional[str] = ..., task_outputs: _Optional[_Iterable[str]] = ..., task_labels_sha256: _Optional[str] = ..., task_classes: _Optional[int] = ..., postprocess_outputs: _Optional[_Iterable[str]] = ...) -> None: ...

class CellRequest(_message.Message):
    __slots__ = ("model_sha256", "backend", "latency", "evaluation", "timeout_seconds", "gpu_delegate", "nnapi_delegate", "cpu_mask", "op_profile", "start", "energy")
    MODEL_SHA256_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    LATENCY_FIELD_NUMBER: _ClassVar[int]
    EVALUATION_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    GPU_DELEGATE_FIELD_NUMBER: _ClassVar[int]
    NNAPI_DELEGATE_FIELD_NUMBER: _ClassVar[int]
    CPU_MASK_FIELD_NUMBER: _ClassVar[int]
    OP_PROFILE_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    ENERGY_FIELD_NUMBER: _ClassVar[int]
    model_sha256: str
    backend: str
    latency: LatencyParams
    evaluation: EvalParams
    timeout_seconds: float
    gpu_delegate: str
    nnapi_delegate: str
    cpu_mask: int
    op_profile: bool
    start: str
    energy: EnergyParams
    def __init__(self, model_sha256: _Optional[str] = ..., backend: _Optional[str] = ..., latency: _Optional[_Union[LatencyParams, _Mapping]] = ..., evaluation: _Optional[_Union[EvalParams, _Mapping]] = ..., timeout_seconds: _Optional[float] = ..., gpu_delegate: _Optional[str] = ..., nnapi_delegate: _Optional[str] = ..., cpu_mask: _Optional[int] = ..., op_profile: _Optional[bool] = ..., start: _Optional[str] = ..., energy: _Optional[_Union[EnergyParams, _Mapping]] = ...) -> None: ...

class Progress(_message.Message):
    __slots__ = ("phase", "fraction", "message", "worker_pid")
    PHASE_FIELD_NUMBER: _ClassVar[int]
    FRACTION_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    WORKER_PID_FIELD_NUMBER: _ClassVar[int]
    phase: str
    fraction: float
    message: str
    worker_pid: int
    def __init__(self, phase: _Optional[str] = ..., fraction: _Optional[float] = ..., message: _Optional[str] = ..., worker_pid: _Optional[int] = ...) -> None: ...

class LatencyStats(_message.Message):
    __slots__ = ("init_ms", "first_ms", "mean", "std", "min", "p50", "p90", "p95", "p99", "max", "count", "warmup_count", "samples_ms", "warmup_total_ms")
    INIT_MS_FIELD_NUMBER: _ClassVar[int]
    FIRST_MS_FIELD_NUMBER: _ClassVar[int]
    MEAN_FIELD_NUMBER: _ClassVar[int]
    STD_FIELD_NUMBER: _ClassVar[int]
    MIN_FIELD_NUMBER: _ClassVar[int]
    P50_FIELD_NUMBER: _ClassVar[int]
    P90_FIELD_NUMBER: _ClassVar[int]
    P95_FIELD_NUMBER: _ClassVar[int]
    P99_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    WARMUP_COUNT_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_MS_FIELD_NUMBER: _ClassVar[int]
    WARMUP_TOTAL_MS_FIELD_NUMBER: _ClassVar[int]
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
    warmup_count: int
    samples_ms: _containers.RepeatedScalarFieldContainer[float]
    warmup_total_ms: float
    def __init__(self, init_ms: _Optional[float] = ..., first_ms: _Optional[float] = ..., mean: _Optional[float] = ..., std: _Optional[float] = ..., min: _Optional[float] = ..., p50: _Optional[float] = ..., p90: _Optional[float] = ..., p95: _Optional[float] = ..., p99: _Optional[float] = ..., max: _Optional[float] = ..., count: _Optional[int] = ..., warmup_count: _Optional[int] = ..., samples_ms: _Optional[_Iterable[float]] = ..., warmup_total_ms: _Optional[float] = ...) -> None: ...

class Memory(_message.Message):
    __slots__ = ("init_rss_mb", "peak_rss_mb", "evaluate_peak_rss_mb", "baseline_rss_mb", "first_rss_mb", "overall_rss_mb", "peak_source")
    INIT_RSS_MB_FIELD_NUMBER: _ClassVar[int]
    PEAK_RSS_MB_FIELD_NUMBER: _ClassVar[int]
    EVALUATE_PEAK_RSS_MB_FIELD_NUMBER: _ClassVar[int]
    BASELINE_RSS_MB_FIELD_NUMBER: _ClassVar[int]
    FIRST_RSS_MB_FIELD_NUMBER: _ClassVar[int]
    OVERALL_RSS_MB_FIELD_NUMBER: _ClassVar[int]
    PEAK_SOURCE_FIELD_NUMBER: _ClassVar[int]
    init_rss_mb: float
    peak_rss_mb: float
    evaluate_peak_rss_mb: float
    baseline_rss_mb: float
    first_rss_mb: float
    overall_rss_mb: float
    peak_source: str
    def __init__(self, init_rss_mb: _Optional[float] = ..., peak_rss_mb: _Optional[float] = ..., evaluate_peak_rss_mb: _Optional[float] = ..., baseline_rss_mb: _Optional[float] = ..., first_rss_mb: _Optional[float] = ..., overall_rss_mb: _Optional[float] = ..., peak_source: _Optional[str] = ...) -> None: ...

class Delegation(_message.Message):
    __slots__ = ("delegate", "delegated_nodes", "total_nodes", "fallback", "engine", "accelerator", "hardware")
    DELEGATE_FIELD_NUMBER: _ClassVar[int]
    DELEGATED_NODES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_NODES_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_FIELD_NUMBER: _ClassVar[int]
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    ACCELERATOR_FIELD_NUMBER: _ClassVar[int]
    HARDWARE_FIELD_NUMBER: _ClassVar[int]
    delegate: str
    delegated_nodes: int
    total_nodes: int
    fallback: bool
    engine: str
    accelerator: str
    hardware: str
    def __init__(self, delegate: _Optional[str] = ..., delegated_nodes: _Optional[int] = ..., total_nodes: _Optional[int] = ..., fallback: _Optional[bool] = ..., engine: _Optional[str] = ..., accelerator: _Optional[str] = ..., hardware: _Optional[str] = ...) -> None: ...

class Numerics(_message.Message):
    __slots__ = ("nan_values", "inf_values", "zero_vectors", "first_image")
    NAN_VALUES_FIELD_NUMBER: _ClassVar[int]
    INF_VALUES_FIELD_NUMBER: _ClassVar[int]
    ZERO_VECTORS_FIELD_NUMBER: _ClassVar[int]
    FIRST_IMAGE_FIELD_NUMBER: _ClassVar[int]
    nan_values: int
    inf_values: int
    zero_vectors: int
    first_image: int
    def __init__(self, nan_values: _Optional[int] = ..., inf_values: _Optional[int] = ..., zero_vectors: _Optional[int] = ..., first_image: _Optional[int] = ...) -> None: ...

class Accuracy(_message.Message):
    __slots__ = ("top1", "top3", "top5", "count")
    TOP1_FIELD_NUMBER: _ClassVar[int]
    TOP3_FIELD_NUMBER: _ClassVar[int]
    TOP5_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    top1: float
    top3: float
    top5: float
    count: int
    def __init__(self, top1: _Optional[float] = ..., top3: _Optional[float] = ..., top5: _Optional[float] = ..., count: _Optional[int] = ...) -> None: ...

class OutputFidelity(_message.Message):
    __slots__ = ("name", "values", "snr_db", "cosine", "mean_abs_error", "max_abs_error", "top1_agreement")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    SNR_DB_FIELD_NUMBER: _ClassVar[int]
    COSINE_FIELD_NUMBER: _ClassVar[int]
    MEAN_ABS_ERROR_FIELD_NUMBER: _ClassVar[int]
    MAX_ABS_ERROR_FIELD_NUMBER: _ClassVar[int]
    TOP1_AGREEMENT_FIELD_NUMBER: _ClassVar[int]
    name: str
    values: int
    snr_db: float
    cosine: float
    mean_abs_error: float
    max_abs_error: float
    top1_agreement: float
    def __init__(self, name: _Optional[str] = ..., values: _Optional[int] = ..., snr_db: _Optional[float] = ..., cosine: _Optional[float] = ..., mean_abs_error: _Optional[float] = ..., max_abs_error: _Optional[float] = ..., top1_agreement: _Optional[float] = ...) -> None: ...

class Fidelity(_message.Message):
    __slots__ = ("top1_agreement", "mean_abs_error", "max_abs_error", "count", "snr_db", "outputs")
    TOP1_AGREEMENT_FIELD_NUMBER: _ClassVar[int]
    MEAN_ABS_ERROR_FIELD_NUMBER: _ClassVar[int]
    MAX_ABS_ERROR_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    SNR_DB_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    top1_agreement: float
    mean_abs_error: float
    max_abs_error: float
    count: int
    snr_db: float
    outputs: _containers.RepeatedCompositeFieldContainer[OutputFidelity]
    def __init__(self, top1_agreement: _Optional[float] = ..., mean_abs_error: _Optional[float] = ..., max_abs_error: _Optional[float] = ..., count: _Optional[int] = ..., snr_db: _Optional[float] = ..., outputs: _Optional[_Iterable[_Union[OutputFidelity, _Mapping]]] = ...) -> None: ...

class CellResult(_message.Message):
    __slots__ = ("status", "error", "phase", "latency", "memory", "delegation", "accuracy", "fidelity", "outputs_sha256", "size_bytes", "accuracy_note", "evaluate_seconds", "evaluated_images", "reference_before_ms", "reference_after_ms", "predictions", "numerics", "op_profile", "warm_start", "task_evidence", "energy_windows")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    LATENCY_FIELD_NUMBER: _ClassVar[int]
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    DELEGATION_FIELD_NUMBER: _ClassVar[int]
    ACCURACY_FIELD_NUMBER: _ClassVar[int]
    FIDELITY_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_SHA256_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    ACCURACY_NOTE_FIELD_NUMBER: _ClassVar[int]
    EVALUATE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    EVALUATED_IMAGES_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_BEFORE_MS_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_AFTER_MS_FIELD_NUMBER: _ClassVar[int]
    PREDICTIONS_FIELD_NUMBER: _ClassVar[int]
    NUMERICS_FIELD_NUMBER: _ClassVar[int]
    OP_PROFILE_FIELD_NUMBER: _ClassVar[int]
    WARM_START_FIELD_NUMBER: _ClassVar[int]
    TASK_EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    ENERGY_WINDOWS_FIELD_NUMBER: _ClassVar[int]
    status: str
    error: str
    phase: str
    latency: LatencyStats
    memory: Memory
    delegation: Delegation
    accuracy: Accuracy
    fidelity: Fidelity
    outputs_sha256: str
    size_bytes: int
    accuracy_note: str
    evaluate_seconds: float
    evaluated_images: int
    reference_before_ms: float
    reference_after_ms: float
    predictions: bytes
    numerics: Numerics
    op_profile: OpProfile
    warm_start: WarmStart
    task_evidence: TaskEvidence
    energy_windows: _containers.RepeatedCompositeFieldContainer[EnergyWindow]
    def __init__(self, status: _Optional[str] = ..., error: _Optional[str] = ..., phase: _Optional[str] = ..., latency: _Optional[_Union[LatencyStats, _Mapping]] = ..., memory: _Optional[_Union[Memory, _Mapping]] = ..., delegation: _Optional[_Union[Delegation, _Mapping]] = ..., accuracy: _Optional[_Union[Accuracy, _Mapping]] = ..., fidelity: _Optional[_Union[Fidelity, _Mapping]] = ..., outputs_sha256: _Optional[str] = ..., size_bytes: _Optional[int] = ..., accuracy_note: _Optional[str] = ..., evaluate_seconds: _Optional[float] = ..., evaluated_images: _Optional[int] = ..., reference_before_ms: _Optional[float] = ..., reference_after_ms: _Optional[float] = ..., predictions: _Optional[bytes] = ..., numerics: _Optional[_Union[Numerics, _Mapping]] = ..., op_profile: _Optional[_Union[OpProfile, _Mapping]] = ..., warm_start: _Optional[_Union[WarmStart, _Mapping]] = ..., task_evidence: _Optional[_Union[TaskEvidence, _Mapping]] = ..., energy_windows: _Optional[_Iterable[_Union[EnergyWindow, _Mapping]]] = ...) -> None: ...

class TaskEvidence(_message.Message):
    __slots__ = ("task", "classes", "confusion", "detections", "points", "values")
    TASK_FIELD_NUMBER: _ClassVar[int]
    CLASSES_FIELD_NUMBER: _ClassVar[int]
    CONFUSION_FIELD_NUMBER: _ClassVar[int]
    DETECTIONS_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    task: str
    classes: int
    confusion: bytes
    detections: bytes
    points: bytes
    values: int
    def __init__(self, task: _Optional[str] = ..., classes: _Optional[int] = ..., confusion: _Optional[bytes] = ..., detections: _Optional[bytes] = ..., points: _Optional[bytes] = ..., values: _Optional[int] = ...) -> None: ...

class WarmStart(_message.Message):
    __slots__ = ("init_ms", "cache", "cache_bytes", "note")
    INIT_MS_FIELD_NUMBER: _ClassVar[int]
    CACHE_FIELD_NUMBER: _ClassVar[int]
    CACHE_BYTES_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    init_ms: float
    cache: str
    cache_bytes: int
    note: str
    def __init__(self, init_ms: _Optional[float] = ..., cache: _Optional[str] = ..., cache_bytes: _Optional[int] = ..., note: _Optional[str] = ...) -> None: ...

class OpTime(_message.Message):
    __slots__ = ("index", "name", "source", "runs", "total_ms")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    RUNS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_MS_FIELD_NUMBER: _ClassVar[int]
    index: int
    name: str
    source: str
    runs: int
    total_ms: float
    def __init__(self, index: _Optional[int] = ..., name: _Optional[str] = ..., source: _Optional[str] = ..., runs: _Optional[int] = ..., total_ms: _Optional[float] = ...) -> None: ...

class OpProfile(_message.Message):
    __slots__ = ("engine", "runs", "invoke_ms", "ops", "note", "first_ms")
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    RUNS_FIELD_NUMBER: _ClassVar[int]
    INVOKE_MS_FIELD_NUMBER: _ClassVar[int]
    OPS_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    FIRST_MS_FIELD_NUMBER: _ClassVar[int]
    engine: str
    runs: int
    invoke_ms: float
    ops: _containers.RepeatedCompositeFieldContainer[OpTime]
    note: str
    first_ms: float
    def __init__(self, engine: _Optional[str] = ..., runs: _Optional[int] = ..., invoke_ms: _Optional[float] = ..., ops: _Optional[_Iterable[_Union[OpTime, _Mapping]]] = ..., note: _Optional[str] = ..., first_ms: _Optional[float] = ...) -> None: ...

class CellEvent(_message.Message):
    __slots__ = ("progress", "result")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    progress: Progress
    result: CellResult
    def __init__(self, progress: _Optional[_Union[Progress, _Mapping]] = ..., result: _Optional[_Union[CellResult, _Mapping]] = ...) -> None: ...
