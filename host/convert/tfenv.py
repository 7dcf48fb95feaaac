"""Import TensorFlow lazily and quietly.

TensorFlow takes seconds to import and prints pages of logs; commands that never convert (a
fully cached run, ``host report``) must not pay for it, and users should see our output only.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from importlib import metadata
from typing import Any


def _quiet() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    warnings.filterwarnings("ignore", module="tensorflow")
    warnings.filterwarnings("ignore", message=".*Statistics for quantized inputs.*")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)


@contextmanager
def silenced() -> Iterator[None]:
    """Send fd 1 and 2 to /dev/null: the converter and TF's C++ core print past Python's streams."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)


@cache
def tf() -> Any:
    _quiet()
    with silenced():
        import tensorflow

    tensorflow.get_logger().setLevel(logging.ERROR)
    tensorflow.autograph.set_verbosity(0)
    return tensorflow


@cache
def keras() -> Any:
    tf()
    import keras as keras_module

    return keras_module


@cache
def converter_version() -> str:
    """The TFLite converter's version without importing TensorFlow (part of every cache key),
    read once: a bench asks it for each of its builds (4 ms a time from the package metadata)."""
    try:
        return "tensorflow-" + metadata.version("tensorflow")
    except metadata.PackageNotFoundError:
        return "tensorflow-unknown"


def qat_installed() -> bool:
    try:
        metadata.version("tensorflow-model-optimization")
        metadata.version("tf-keras")
    except metadata.PackageNotFoundError:
        return False
    return True
