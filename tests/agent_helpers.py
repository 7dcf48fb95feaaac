"""Helpers for agent tests: an in-process server and content-addressed files."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np

from device_agent.server import AgentConfig, create_server
from host.agent_client import AgentClient


def start_agent(root: Path, token: str, **config):
    server, port = create_server(AgentConfig(root, token, **config))
    return server, AgentClient(f"127.0.0.1:{port}", token)


def put(client: AgentClient, folder: Path, data: bytes) -> str:
    sha = hashlib.sha256(data).hexdigest()
    path = folder / sha
    path.write_bytes(data)
    client.upload(path, sha)
    return sha


def dataset_bytes(images: np.ndarray, labels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, images=images, labels=labels)
    return buffer.getvalue()
