"""A model zoo's float .tflite becomes a source: float16 weights widened, legacy op codes moved,
a signature added, on a cached copy that runs like the original; a quantized file stays a build."""

from __future__ import annotations

import numpy as np
import pytest

from device_agent.engines.runtime import inspection_interpreter
from host.cli import main
from host.convert.inspect import inspect_tflite, quantized_weight_ops
from host.convert.loader import resolve_model
from host.convert.normalize import normalize_float_tflite, random_input
from host.errors import ModelLoadError
from host.hashing import sha256_file
from tests.builders import third_party_tflite, weight_dominated_model, write_image_folder


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    root = tmp_path_factory.mktemp("zoo")
    model = weight_dominated_model()
    (root / "float16_legacy.tflite").write_bytes(third_party_tflite(model))
    (root / "float32_legacy.tflite").write_bytes(third_party_tflite(model, float16=False))
    (root / "current.tflite").write_bytes(
        third_party_tflite(model, float16=False, legacy_opcodes=False, signatures=True)
    )
    write_image_folder(root / "images", classes=2, per_class=4, size=32)
    return root


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("QUANTBENCH_CACHE_DIR", str(tmp_path / "cache"))


def test_each_rewrite_is_done_and_said(zoo):
    content = (zoo / "float16_legacy.tflite").read_bytes()
    assert inspect_tflite(content).weight_dtypes == {"float16"}
    assert not inspection_interpreter(content).get_signature_list()
    normalized = normalize_float_tflite(content, "zoo.tflite")
    assert normalized.widened_weights == sum(1 for _ in _float16_constants(content))
    assert normalized.opcodes_moved > 0 and normalized.signature_added
    facts = inspect_tflite(normalized.content)
    assert facts.is_float and facts.weight_dtypes == {"float32"}
    assert "DEQUANTIZE" not in {op["op_name"] for op in inspection_interpreter(normalized.content)._get_ops_details()}
    signature = inspection_interpreter(normalized.content).get_signature_list()
    assert list(signature) == ["serving_default"] and len(signature["serving_default"]["inputs"]) == 1
    line = normalized.describe("zoo.tflite")
    assert (
        "float16 weights widened" in line
        and "legacy op codes" in line
        and "serving_default" in line
        and "max abs error" in line
    )


def test_the_copy_computes_what_the_original_computes(zoo):
    content = (zoo / "float16_legacy.tflite").read_bytes()
    copy = normalize_float_tflite(content, "zoo.tflite").content
    rng = np.random.default_rng(7)
    values = random_input(rng, (1, 32, 32, 3), np.dtype(np.float32))
    outputs = []
    for model in (content, copy):
        interpreter = inspection_interpreter(model)
        interpreter.allocate_tensors()
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], values)
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(interpreter.get_output_details()[0]["index"]).copy())
    np.testing.assert_allclose(outputs[0], outputs[1], rtol=0, atol=1e-6)


def test_a_current_float_file_is_its_own_source(zoo):
    for _ in range(2):  # the second answer is the one kept in the cache
        source = resolve_model(str(zoo / "current.tflite"))
        assert source.path == zoo / "current.tflite" and source.note is None
        assert source.sha256 == sha256_file(zoo / "current.tflite")


def test_a_zoo_file_becomes_a_cached_source_with_its_note(zoo):
    first = resolve_model(str(zoo / "float16_legacy.tflite"))
    assert first.path != zoo / "float16_legacy.tflite" and "float16 weights widened" in (first.note or "")
    again = resolve_model(str(zoo / "float16_legacy.tflite"))
    assert again.path == first.path and again.sha256 == first.sha256 and again.note == first.note
    assert first.path is not None and first.sha256 == sha256_file(first.path)


@pytest.mark.parametrize("name", ["float16_legacy.tflite", "float32_legacy.tflite"])
def test_every_quantizer_mode_converts_a_zoo_file(zoo, tmp_path, capsys, name):
    """Before normalisation: float16 -> 'already quantized' (exit 2); float32 legacy -> every mode
    'stored no weight as int8' and a8w8/a16w8 'no signatures'."""
    out = tmp_path / "out"
    assert (
        main(
            [
                "convert",
                str(zoo / name),
                "--modes",
                "quantizer",
                "--calibration",
                str(zoo / "images"),
                "--out",
                str(out),
                "--no-cache",
            ]
        )
        == 0
    )
    assert "normalised a copy of" in capsys.readouterr().out
    for mode in ("dynamic_wi8", "weight_only_wi8", "a8w8", "a16w8", "dynamic_wi4"):
        build = (out / f"{mode}.tflite").read_bytes()
        assert quantized_weight_ops(build), mode
        assert len(build) < 0.35 * (zoo / "float32_legacy.tflite").stat().st_size, mode


def test_an_int8_file_is_still_benched_as_it_is(zoo, tmp_path, capsys):
    out = tmp_path / "out"
    assert (
        main(
            [
                "convert",
                str(zoo / "float32_legacy.tflite"),
                "--modes",
                "a8w8",
                "--calibration",
                str(zoo / "images"),
                "--out",
                str(out),
                "--no-cache",
            ]
        )
        == 0
    )
    with pytest.raises(ModelLoadError, match="already quantized"):
        resolve_model(str(out / "a8w8.tflite"))


def test_a_file_that_is_no_flatbuffer_is_refused(tmp_path):
    with pytest.raises(ModelLoadError, match="not a valid TFLite model"):
        normalize_float_tflite(b"TFL3" * 10, "junk.tflite")


def _float16_constants(content: bytes):
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(content, 0)
    graph = model.Subgraphs(0)
    for i in range(graph.TensorsLength()):
        tensor = graph.Tensors(i)
        if tensor.Type() == 1 and model.Buffers(tensor.Buffer()).DataLength():
            yield i


def test_a_two_input_model_is_never_calibrated_on_images(tmp_path, capsys):
    """Images feed one input: the second would run on zeros while the first gets an image (the
    issue saw it measured, tuned, and a8w8 exit 1). Refused in one line, naming the way in:
    tensor samples keyed by input name."""
    from host.convert import tfenv
    from tests.builders import keras, write_flat_images

    k = keras()
    image, extra = k.Input((16, 16, 3), batch_size=1), k.Input((4,), batch_size=1)
    pooled = k.layers.GlobalAveragePooling2D()(k.layers.Conv2D(4, 3)(image))
    model = k.Model([image, extra], k.layers.Dense(3)(k.layers.Concatenate()([pooled, extra])))
    with tfenv.silenced():
        path = tmp_path / "two_inputs.tflite"
        path.write_bytes(bytes(tfenv.tf().lite.TFLiteConverter.from_keras_model(model).convert()))
    assert resolve_model(str(path)).known_input_shape is None  # a source, but not an image model
    images = write_flat_images(tmp_path / "images", count=4, size=16)
    assert (
        main(["convert", str(path), "--modes", "a8w8", "--calibration", str(images), "--out", str(tmp_path / "out")])
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "holds images, but the model takes" in err[0] and "FILE.npz" in err[0], err


def test_bench_measures_a_float16_file_as_shipped_and_says_how_to_quantize_it(zoo):
    """A release's float16 build is benched as it is (the gate measures what ships); convert,
    debug and tune widen it into a source."""
    from host.convert.given import given_note, is_given_build

    path = str(zoo / "float16_legacy.tflite")
    assert is_given_build(path) and not is_given_build(path, float16_is_source=True)
    assert f"host convert {path} --modes quantizer" in given_note(path)
    assert not is_given_build(str(zoo / "float32_legacy.tflite"))
