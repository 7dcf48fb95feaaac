"""Shared fixtures: the one tiny model every conversion test uses, a model with known answers,
and a session token. Test tiers live in ``unit/`` (fast: no TensorFlow, no subprocess),
``integration/`` and ``e2e/``."""

from __future__ import annotations

import os
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.builders import keras, weight_dominated_model, write_image_folder

# Dominant channel -> class of that channel; class 3 scores the sum (always second);
# class 4 scores minus the sum (always last). So per image: top1 = dominant channel,
# top2 = class 3, top3 = second-strongest channel, top5 = everything.
_W = np.array([[4, 0, 0, 2, -4], [0, 4, 0, 2, -4], [0, 0, 4, 2, -4]], dtype=np.float32)
EXPECTED = {"top1": 0.6, "top3": 0.9, "top5": 1.0, "count": 10}


@dataclass(frozen=True)
class KnownAnswer:
    folder: Path
    images: np.ndarray
    labels: np.ndarray
    models: dict[str, bytes]  # float, uint8, int8


@dataclass(frozen=True)
class TinyWorkspace:
    """The shared tiny model (~160k weights, so sizes follow the weights) and labelled images."""

    root: Path
    model: Path
    images: Path


def known_answer_images() -> tuple[np.ndarray, np.ndarray]:
    images, labels = [], []
    for i in range(10):
        dominant, second = i % 3, (i + 1) % 3
        pixel = np.full(3, 20, dtype=np.uint8)
        pixel[dominant], pixel[second] = 200, 60
        images.append(np.broadcast_to(pixel, (4, 4, 3)).copy())
        labels.append(dominant if i < 6 else second if i < 9 else 4)
    return np.stack(images), np.asarray(labels, dtype=np.int32)


@pytest.fixture(scope="session", autouse=True)
def no_user_adb_server():
    """No test reaches the user's adb server (5037, or their ``ANDROID_ADB_SERVER_PORT``): the
    session's default is a private port. A test that needs a server starts its own
    (``tests.adb_fixtures.private_adb_server``); one started on the default by accident is killed here."""
    from host.devices.transport.adb import adb_binary, free_local_port

    port = free_local_port()
    saved = os.environ.get("ANDROID_ADB_SERVER_PORT")
    os.environ["ANDROID_ADB_SERVER_PORT"] = str(port)
    yield port
    if saved is None:
        os.environ.pop("ANDROID_ADB_SERVER_PORT", None)
    else:
        os.environ["ANDROID_ADB_SERVER_PORT"] = saved
    import socket

    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            subprocess.run([adb_binary(), "-P", str(port), "kill-server"], capture_output=True, timeout=30)


@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> TinyWorkspace:
    root = tmp_path_factory.mktemp("tiny")
    weight_dominated_model().save(root / "tiny.keras")
    write_image_folder(root / "images", classes=4, per_class=10)
    return TinyWorkspace(root, root / "tiny.keras", root / "images")


@pytest.fixture(scope="session")
def known_answer(tmp_path_factory) -> KnownAnswer:
    from host.convert.cache import ConversionCache
    from host.convert.converter import convert_model
    from host.convert.loader import resolve_model
    from host.convert.modes import ModeRequest
    from host.convert.records import ConvertOptions

    root = tmp_path_factory.mktemp("known")
    images, labels = known_answer_images()
    for i, image in enumerate(images):
        (root / "images").mkdir(exist_ok=True)
        Image.fromarray(image).save(root / "images" / f"{i:02d}.png")
    k = keras()
    inp = k.Input((4, 4, 3))
    dense = k.layers.Dense(5, use_bias=False)
    model = k.Model(inp, dense(k.layers.GlobalAveragePooling2D()(inp)))
    dense.set_weights([_W])
    model.save(root / "known.keras")
    models = {}
    for io_type in ("uint8", "int8"):
        out = root / f"out_{io_type}"
        convert_model(
            resolve_model(str(root / "known.keras")),
            ModeRequest.parse("none,full_integer").modes,
            out,
            ConvertOptions(io_type=io_type, calibration_dir=root / "images", preset="unit"),
            cache=ConversionCache(None),
        )
        models[io_type] = (out / "full_integer.tflite").read_bytes()
        models["float"] = (out / "none.tflite").read_bytes()
    return KnownAnswer(root, images, labels, models)


@pytest.fixture()
def token() -> str:
    return secrets.token_hex(16)
