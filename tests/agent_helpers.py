"""Helpers for agent tests: an in-process server, content-addressed files, cell requests."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from device_agent.contract import CellRequest, EvalParams, LatencyParams
from device_agent.serving.server import AgentConfig, create_server
from device_agent.storage.dataset import DatasetHeader
from host.devices.agent.client import AgentClient

FAST = LatencyParams(warmup_runs=1, warmup_seconds=0.01, min_runs=20, min_seconds=0.05, max_seconds=5.0)


def start_agent(root: Path, token: str, **config: Any):
    server, port = create_server(AgentConfig(root, token, **config))
    return server, AgentClient(f"127.0.0.1:{port}", token)


def put(client: AgentClient, folder: Path, data: bytes) -> str:
    sha = hashlib.sha256(data).hexdigest()
    path = folder / sha
    path.write_bytes(data)
    client.upload(path, sha)
    return sha


def dataset_bytes(images: np.ndarray, labels: np.ndarray) -> bytes:
    """A packed dataset file (device_agent/storage/dataset.py) of these images and labels."""
    count, height, width, channels = images.shape
    return (
        np.ascontiguousarray(images, dtype=np.uint8).tobytes()
        + np.asarray(labels, dtype="<i4").tobytes()
        + DatasetHeader(count, height, width, channels).footer()
    )


def request(
    model: str, backend: str = "cpu1", latency: LatencyParams = FAST, timeout: float = 900.0, **evaluation: Any
) -> CellRequest:
    """A cell request; evaluation keywords (dataset_sha256, preset, ...) add an evaluation."""
    return CellRequest(
        model,
        backend,
        latency=latency,
        timeout_seconds=timeout,
        evaluation=EvalParams(**evaluation) if evaluation else None,
    )
