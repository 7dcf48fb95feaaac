"""Export a Keras model for the converter once, then convert every mode from that export.

``TFLiteConverter.from_keras_model`` exports the model to a temporary SavedModel on every
``convert()`` (Keras 3's ``ExportArchive``, ``__call__`` with ``training=False``, the model's
input signature) and converts that. On the demo the export is about half of each conversion
(4 of 7 s), paid again for each of the seven modes. Exporting the same way once and converting
from the folder gives the converter the identical graph, so the builds are the same bytes (a test holds that),
except that a free batch dimension is fixed at 1 (``batch_of_one``).
"""

from __future__ import annotations

import functools
import shutil
import tempfile
import weakref
from pathlib import Path
from typing import Any

from host.convert import tfenv

SERVING_SIGNATURE = "serving_default"


class InferenceExport:
    """One temporary SavedModel of a Keras model's inference call, removed with this object."""

    def __init__(self, keras_model: Any) -> None:
        self._model = keras_model
        self._folder: Path | None = None
        self._failed = False

    def converter(self) -> Any:
        """A converter for the model: from the export when it could be written, else TF's own
        Keras path (which then exports, or falls back to freezing, by itself)."""
        tf = tfenv.tf()
        folder = self._export()
        if folder is None:
            return tf.lite.TFLiteConverter.from_keras_model(self._model)
        converter = tf.lite.TFLiteConverter.from_saved_model(str(folder), signature_keys=[SERVING_SIGNATURE])
        _record_keras_origin(converter)
        converter.quantbench_export = self  # the folder lives as long as a converter that reads it
        return converter

    def _export(self) -> Path | None:
        if self._folder is not None or self._failed:
            return self._folder
        folder = Path(tempfile.mkdtemp(prefix="quantbench-export-"))
        weakref.finalize(self, shutil.rmtree, folder, True)
        try:
            with tfenv.silenced():
                _write_inference_archive(self._model, folder)
        except Exception:  # the converter's own path copes with what ExportArchive cannot write
            self._failed = True
            return None
        self._folder = folder
        return folder


def _record_keras_origin(converter: Any) -> None:
    """The build's conversion metadata names the model type the user gave (Keras), as
    ``from_keras_model`` writes it; without this the one byte that says so reads SavedModel."""
    from tensorflow.lite.python import conversion_metadata_schema_py_generated as metadata

    environment = getattr(getattr(converter, "_metadata", None), "environment", None)
    if environment is not None:
        environment.modelType = metadata.ModelType.KERAS_MODEL


def batch_of_one(shape: Any) -> tuple[Any, ...]:
    """An input shape with a free batch dimension fixed at 1: a phone runs one image at a time,
    and LiteRT's GPU accelerator refuses a graph with dynamic-sized tensors (a model from
    ``keras.applications`` has a free batch), so its builds would never run on ``gpu``."""
    dims = tuple(shape)
    return (1, *dims[1:]) if dims and dims[0] is None else dims


def _write_inference_archive(model: Any, folder: Path) -> None:
    """What ``TFLiteKerasModelConverterV2._convert_keras_to_saved_model`` writes for a Keras 3
    functional or sequential model: one ``serve`` endpoint, inference mode, the model's inputs
    (a free batch dimension fixed at 1: see ``batch_of_one``)."""
    tf = tfenv.tf()
    keras = tfenv.keras()
    if not isinstance(model, keras.src.models.Functional | keras.src.models.Sequential):
        raise TypeError("only functional and sequential models are exported here")
    signature = tf.nest.map_structure(
        lambda x: tf.TensorSpec(batch_of_one(x.shape), dtype=x.dtype, name=x.name), model.inputs
    )
    if isinstance(signature, list) and len(signature) > 1:
        signature = [signature]
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serve", functools.partial(model.__call__, training=False), signature)
    archive.write_out(str(folder), verbose=False)
