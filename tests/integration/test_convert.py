"""Conversion in every mode: each produced model is opened and checked against its promise."""

from __future__ import annotations

import json
import zipfile

import pytest

from host.cli import main
from host.convert import sources as sources_module
from host.convert import tfenv
from host.convert import training as training_module
from host.convert.cache import ConversionCache
from host.convert.converter import convert_model
from host.convert.inspect import inspect_tflite
from host.convert.loader import resolve_model
from host.convert.modes import MODES, ModeRequest
from host.convert.options import ConvertConfig
from host.convert.records import ConvertOptions
from host.errors import ModeError
from host.params import with_values
from tests.builders import sin_model, weight_dominated_model, write_image_folder

POST_TRAINING = "none,dynamic_range,float16,integer,full_integer,int16x8"


@pytest.fixture(scope="module")
def workspace(tiny):
    """The shared tiny model and images (tests write their outputs beside them)."""
    return tiny.root


@pytest.fixture(scope="module")
def converted(workspace):
    """All post-training modes once (uint8 IO), plus qat when its extra is installed."""
    modes = POST_TRAINING + (",qat" if tfenv.qat_installed() else "")
    report = convert_model(
        resolve_model(str(workspace / "tiny.keras")),
        ModeRequest.parse(modes).modes,
        workspace / "out",
        ConvertOptions(calibration_dir=workspace / "images", train_dir=workspace / "images"),
        cache=ConversionCache(workspace / "cache"),
    )
    return report, {
        r.mode: inspect_tflite((workspace / "out" / f"{r.mode}.tflite").read_bytes()) for r in report.results if r.ok
    }


def test_every_requested_mode_converts(converted):
    report, facts = converted
    assert not report.failed, [(r.mode, r.error) for r in report.failed]
    assert set(facts) >= set(POST_TRAINING.split(","))


@pytest.mark.parametrize(
    ("mode", "io", "weights"),
    [
        ("none", "float32", {"float32"}),
        # dynamic range quantizes only tensors of 1024+ elements; this model has both kinds
        ("dynamic_range", "float32", {"int8", "float32"}),
        ("float16", "float32", {"float16"}),
        ("integer", "float32", {"int8"}),
        ("full_integer", "uint8", {"int8"}),
        ("int16x8", "float32", {"int8"}),
    ],
)
def test_mode_keeps_its_promise(converted, mode, io, weights):
    _, facts = converted
    f = facts[mode]
    assert (f.input_dtype, f.output_dtype) == (io, io)
    assert f.weight_dtypes == weights


def test_activation_dtypes(converted):
    _, facts = converted
    assert facts["int16x8"].activation_dtypes == {"int16"}
    assert facts["integer"].activation_dtypes == {"int8"}
    assert facts["none"].activation_dtypes == {"float32"}


def test_full_integer_has_no_float_kernels(converted):
    _, facts = converted
    assert facts["full_integer"].float_kernels == ()
    assert facts["none"].float_kernels, "sanity: the float model does have float kernels"


def test_sizes_follow_the_weights(converted):
    report, _ = converted
    size = {r.mode: r.size_bytes for r in report.results}
    assert 0.45 <= size["float16"] / size["none"] <= 0.60
    for mode in ("dynamic_range", "integer", "full_integer"):
        assert 0.22 <= size[mode] / size["none"] <= 0.35, mode


def test_manifest_matches_the_contract(converted, workspace):
    report, _ = converted
    manifest = json.loads((workspace / "out" / "manifest.json").read_text())
    assert manifest["model"]["input_shape"] == [1, 32, 32, 3]
    for r in report.results:
        entry = manifest["modes"][r.mode]
        assert set(entry) >= {"path", "size_bytes", "sha256", "input_dtype", "output_dtype", "seconds"}
        data = (workspace / "out" / entry["path"]).read_bytes()
        assert len(data) == entry["size_bytes"]


@pytest.mark.skipif(not tfenv.qat_installed(), reason="needs the [qat] extra")
def test_qat_produces_int8_kernels(converted):
    _, facts = converted
    assert facts["qat"].weight_dtypes == {"int8"}
    assert facts["qat"].activation_dtypes == {"int8"}


def test_int8_io_option(workspace):
    report = convert_model(
        resolve_model(str(workspace / "tiny.keras")),
        ModeRequest.parse("full_integer").modes,
        workspace / "out_int8",
        ConvertOptions(io_type="int8", calibration_dir=workspace / "images"),
        cache=ConversionCache(None),
    )
    facts = inspect_tflite((workspace / "out_int8" / "full_integer.tflite").read_bytes())
    assert (facts.input_dtype, facts.output_dtype) == ("int8", "int8")
    assert report.results[0].ok


def test_cache_hit_returns_identical_bytes_without_the_converter(workspace, converted, monkeypatch):
    report, _ = converted

    def converter_must_not_run(*args, **kwargs):
        raise AssertionError("the converter ran on a cache hit")

    monkeypatch.setattr(sources_module, "run_converter", converter_must_not_run)
    cache = ConversionCache(workspace / "cache")
    again = convert_model(
        resolve_model(str(workspace / "tiny.keras")),
        ModeRequest.parse(POST_TRAINING).modes,
        workspace / "out_again",
        ConvertOptions(calibration_dir=workspace / "images"),
        cache=cache,
    )
    first = {r.mode: r.sha256 for r in report.results}
    assert all(r.cached and r.ok for r in again.results)
    assert {r.mode: r.sha256 for r in again.results} == {m: first[m] for m in POST_TRAINING.split(",")}
    assert cache.hits == len(POST_TRAINING.split(","))


def test_changed_calibration_misses_the_cache_for_integer_modes_only(workspace, converted, tmp_path):
    write_image_folder(tmp_path / "other", classes=4, per_class=6, seed=9)
    cache = ConversionCache(workspace / "cache")
    report = convert_model(
        resolve_model(str(workspace / "tiny.keras")),
        ModeRequest.parse("float16,integer").modes,
        tmp_path / "o",
        ConvertOptions(calibration_dir=tmp_path / "other"),
        cache=cache,
    )
    assert {r.mode: r.cached for r in report.results} == {"float16": True, "integer": False}


def test_a_mode_with_no_int8_kernel_fails_alone(tmp_path):
    sin_model().save(tmp_path / "sin.keras")
    write_image_folder(tmp_path / "images", classes=2, per_class=4, size=8)
    report = convert_model(
        resolve_model(str(tmp_path / "sin.keras")),
        ModeRequest.parse("none,integer,full_integer").modes,
        tmp_path / "out",
        ConvertOptions(calibration_dir=tmp_path / "images"),
        cache=ConversionCache(None),
    )
    status = {r.mode: r for r in report.results}
    assert status["none"].ok and status["integer"].ok
    assert not status["full_integer"].ok
    assert "SIN" in status["full_integer"].error
    assert not (tmp_path / "out" / "full_integer.tflite").exists()
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert "SIN" in manifest["failed"]["full_integer"] and "none" in manifest["modes"]


def test_mode_table_and_parsing():
    assert [m.name for m in MODES] == [
        "none",
        "dynamic_range",
        "float16",
        "integer",
        "full_integer",
        "int16x8",
        "qat",
        "dynamic_wi8",
        "dynamic_wi4",
        "dynamic_wi4_b32",
        "weight_only_wi8",
        "weight_only_wi4",
        "a8w8",
        "a16w8",
    ]
    assert ModeRequest.parse("float16,none").names == ["none", "float16"]
    assert not ModeRequest.parse("none").explicit_all and ModeRequest.parse("post_training,none").explicit_all
    with pytest.raises(ModeError, match="unknown mode 'int3'"):
        ModeRequest.parse("none,int3")


def _cli_error(capsys, argv):
    code = main(argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return code, lines[0]


def test_cli_converts_and_cached_run_reports_cached(workspace, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("QUANTBENCH_CACHE_DIR", str(workspace / "cache"))
    code = main(["convert", str(workspace / "tiny.keras"), "--modes", "none,float16", "--out", str(tmp_path / "o")])
    assert code == 0
    out = capsys.readouterr().out
    assert "cached" in out and "float16" in out


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        (lambda p: (p / "notes.keras").write_text("hello"), "not a readable .keras"),
        (lambda p: (p / "notes.h5").write_text("hello"), "not an HDF5"),
        (lambda p: (p / "model.txt").write_text("hello"), "not a model file"),
    ],
)
def test_files_that_are_not_models_exit_2(tmp_path, capsys, setup, expected):
    setup(tmp_path)
    name = next(p for p in tmp_path.iterdir()).name
    code, line = _cli_error(capsys, ["convert", str(tmp_path / name), "--modes", "none", "--out", str(tmp_path / "o")])
    assert code == 2 and expected in line


def test_truncated_keras_exits_2(workspace, tmp_path, capsys):
    data = (workspace / "tiny.keras").read_bytes()
    (tmp_path / "cut.keras").write_bytes(data[: len(data) // 2])
    code, line = _cli_error(
        capsys, ["convert", str(tmp_path / "cut.keras"), "--modes", "none", "--out", str(tmp_path / "o")]
    )
    assert code == 2 and "truncated or corrupt" in line
    assert zipfile.is_zipfile(workspace / "tiny.keras")


def test_saved_model_without_serving_signature_exits_2(tmp_path, capsys):
    tf = tfenv.tf()
    module = tf.Module()
    module.v = tf.Variable(1.0)
    tf.saved_model.save(module, str(tmp_path / "sm"))
    code, line = _cli_error(
        capsys, ["convert", str(tmp_path / "sm"), "--modes", "none", "--out", str(tmp_path / "o"), "--no-cache"]
    )
    assert code == 2 and "serving_default" in line


def test_saved_model_with_signature_converts(tmp_path):
    model = weight_dominated_model()
    model.export(str(tmp_path / "sm"), verbose=False)
    report = convert_model(
        resolve_model(str(tmp_path / "sm")),
        ModeRequest.parse("none,float16").modes,
        tmp_path / "o",
        ConvertOptions(),
        cache=ConversionCache(None),
    )
    assert all(r.ok for r in report.results), [r.error for r in report.results]
    assert inspect_tflite((tmp_path / "o" / "float16.tflite").read_bytes()).weight_dtypes == {"float16"}


def test_unknown_input_size_exits_2(tmp_path, capsys):
    k = tfenv.keras()
    inp = k.Input((None, None, 3))
    k.Model(inp, k.layers.GlobalAveragePooling2D()(k.layers.Conv2D(4, 3)(inp))).save(tmp_path / "dyn.keras")
    code, line = _cli_error(
        capsys, ["convert", str(tmp_path / "dyn.keras"), "--modes", "none", "--out", str(tmp_path / "o"), "--no-cache"]
    )
    assert code == 2 and "input size is unknown" in line


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--modes", "int3"], "unknown mode 'int3'"),
        (["--modes", "integer"], "needs calibration images"),
        (["--modes", "qat", "--calibration", "IMAGES"], "needs labelled training images"),
        (["--modes", "integer", "--calibration", "EMPTY"], "no images in"),
    ],
)
def test_bad_modes_and_data_exit_2(workspace, tmp_path, capsys, args, expected):
    (tmp_path / "empty").mkdir()
    args = [a.replace("IMAGES", str(workspace / "images")).replace("EMPTY", str(tmp_path / "empty")) for a in args]
    code, line = _cli_error(capsys, ["convert", str(workspace / "tiny.keras"), "--out", str(tmp_path / "o"), *args])
    assert code == 2 and expected in line


def test_builtin_without_weights_on_disk_is_a_clear_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    code, line = _cli_error(capsys, ["convert", "mobilenet_v2", "--modes", "none", "--out", str(tmp_path / "o")])
    assert code == 2 and "--weights none" in line


def test_all_skips_modes_without_inputs_with_reasons(workspace, tmp_path):
    from host.convert.service import convert_command

    config = with_values(
        ConvertConfig(), model=str(workspace / "tiny.keras"), out=str(tmp_path / "o"), modes="all", use_cache=False
    )
    report = convert_command(config)
    assert [r.mode for r in report.results] == [
        "none",
        "dynamic_range",
        "float16",
        "dynamic_wi8",
        "dynamic_wi4",
        "weight_only_wi8",
        "weight_only_wi4",
    ]  # both routes from one Keras model
    assert (
        "--calibration" in report.skipped["integer"]
        and "qat" in report.skipped
        and "--calibration" in report.skipped["a8w8"]
    )


def test_h5_model_converts(tmp_path):
    weight_dominated_model().save(tmp_path / "tiny.h5")
    report = convert_model(
        resolve_model(str(tmp_path / "tiny.h5")),
        ModeRequest.parse("none,float16").modes,
        tmp_path / "o",
        ConvertOptions(),
        cache=ConversionCache(None),
    )
    assert all(r.ok for r in report.results), [r.error for r in report.results]
    assert inspect_tflite((tmp_path / "o" / "float16.tflite").read_bytes()).weight_dtypes == {"float16"}


def test_builds_from_the_one_export_are_the_bytes_from_keras_model(workspace, converted):
    """Every mode converts from one SavedModel export of the model, not one export per mode; the
    converter must see the graph ``from_keras_model`` gives it, down to the metadata byte, for a
    model whose batch is fixed. A free batch is fixed at 1 (LiteRT's GPU takes no dynamic shapes)."""
    from host.convert.export import InferenceExport

    report, facts = converted
    assert all(r.sha256 is not None for r in report.results if r.ok)
    interpreter = tfenv.tf().lite.Interpreter(model_path=str(workspace / "out" / "none.tflite"))
    assert interpreter.get_input_details()[0]["shape_signature"].tolist() == [1, 32, 32, 3], (
        "tiny.keras has a free batch"
    )
    keras_model = weight_dominated_model(batch=1)
    for mode in ModeRequest.parse("none,float16").modes:
        theirs = tfenv.tf().lite.TFLiteConverter.from_keras_model(keras_model)
        sources_module.apply_mode(theirs, mode, "uint8", None)
        exported = InferenceExport(keras_model).converter()
        sources_module.apply_mode(exported, mode, "uint8", None)
        assert bytes(exported.convert()) == bytes(theirs.convert())


@pytest.mark.skipif(not tfenv.qat_installed(), reason="needs the [qat] extra")
def test_qat_trains_while_the_other_modes_convert_and_an_interrupt_stops_it(workspace, monkeypatch, tmp_path):
    events: list[str] = []
    jobs: list = []
    real_job, real_converter = training_module.QatJob, sources_module.run_converter

    def job(*args, **kwargs):
        events.append("qat started")
        jobs.append(real_job(*args, **kwargs))
        return jobs[-1]

    def convert(mode, *args, **kwargs):
        events.append(f"{mode.name} converted")
        return real_converter(mode, *args, **kwargs)

    class StopAtSecond:
        def mode_started(self, mode, index, total):
            if index == 1:
                raise KeyboardInterrupt

        def mode_done(self, result):
            pass

    monkeypatch.setattr(training_module, "QatJob", job)
    monkeypatch.setattr(sources_module, "run_converter", convert)
    with pytest.raises(KeyboardInterrupt):
        convert_model(
            resolve_model(str(workspace / "tiny.keras")),
            ModeRequest.parse("none,float16,qat").modes,
            tmp_path / "out",
            ConvertOptions(train_dir=workspace / "images"),
            cache=ConversionCache(None),
            listener=StopAtSecond(),
        )
    assert events == ["qat started", "none converted"]
    child = jobs[0]._proc
    assert child is not None and child.poll() is not None, "the fine-tuning child outlived the interrupted conversion"
    assert not jobs[0]._folder.exists()
