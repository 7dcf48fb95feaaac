"""The qat build's inputs and its child process, beside the other modes' conversion.

Fine-tuning is the longest build: its child starts before the other modes when its build is not
cached, so it trains while they convert; its labelled images are read once, while the Keras
model loads.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from host.convert.cache import ConversionCache
from host.convert.modes import QuantMode
from host.convert.qat import QatJob
from host.convert.records import ConvertOptions
from host.convert.sources import LoadedModel
from host.data.images import ImageSet, list_images, load_image_set, round_robin
from host.errors import DatasetError, HostError, InputError


class Training:
    """The qat build's child process: started before the other modes when its build is not cached,
    so it fine-tunes while they convert (they use one thread; fine-tuning is the longest build),
    else started in its turn if it turns out to be needed after all."""

    def __init__(self, model: LoadedModel, training: ImageSet, preset: str, epochs: int) -> None:
        self._model, self._training, self._preset, self._epochs = model, training, preset, epochs
        self._job: QatJob | None = None

    def start(self) -> None:
        with contextlib.suppress(
            HostError
        ):  # not a Keras model: the build says so in its turn, when job() raises it again
            self.job()

    def job(self) -> QatJob:
        if self._job is None:
            self._job = QatJob(self._model.keras_model(), self._training, preset=self._preset, epochs=self._epochs)
        return self._job

    def close(self) -> None:
        if self._job is not None:
            self._job.close()


def start_training(
    modes: Sequence[QuantMode],
    keys: dict[str, str],
    model: LoadedModel,
    options: ConvertOptions,
    cache: ConversionCache,
    training: ImageSet | None,
    preset: str,
) -> Training | None:
    mode = next((m for m in modes if m.needs_training), None)
    if mode is None or training is None:
        return None
    holder = Training(model, training, preset, options.qat_epochs)
    if not (options.use_cache and cache.has(keys[mode.name])):
        holder.start()
    return holder


def _preload(model: LoadedModel) -> None:
    with contextlib.suppress(HostError):  # not a Keras model: qat says so in its turn
        model.keras_model()


def training_images(modes: Sequence[QuantMode], options: ConvertOptions, model: LoadedModel) -> ImageSet | None:
    if not any(m.needs_training for m in modes):
        return None
    if options.train_dir is None:
        raise InputError("mode 'qat' needs labelled training images: pass --train-data DIR (class subfolders)")
    options.training_ready(
        lambda: _preload(model)
    )  # qat needs the Keras model next: load it while the images are written
    shape = model.input_shape()
    listing = list_images(options.train_dir)
    if not listing.class_names:
        raise DatasetError(
            f"{options.train_dir} has no class subfolders: qat needs labelled images (one folder per class)"
        )
    return load_image_set(
        round_robin(listing.entries), shape[:2], class_names=listing.class_names, what="training images"
    )
