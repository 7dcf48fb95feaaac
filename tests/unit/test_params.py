"""The declared parameter tables: every option has help, flags parse into typed configs, checks run."""

from __future__ import annotations

import pytest

from host.bench.config import BenchConfig, BenchOutputs, CompareOptions
from host.cli import build_parser, main
from host.convert.options import ConvertConfig
from host.devices.options import DoctorOptions
from host.errors import InputError
from host.gate.options import CheckOptions, Thresholds
from host.params import from_namespace, params, validate

TABLES = (BenchConfig, BenchOutputs, CompareOptions, CheckOptions, ConvertConfig, DoctorOptions, Thresholds)


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.__name__)
def test_every_parameter_has_help_and_every_number_a_unit_or_metavar(table):
    for field, spec in params(table):
        assert len(spec.help) > 10, field.name
        if isinstance(spec.default, (int, float)) and not isinstance(spec.default, bool):
            assert spec.unit or spec.metavar, f"{field.name} needs a unit"


def test_defaults_are_declared_once_and_parse_back_unchanged():
    args = build_parser().parse_args(["bench"])
    assert from_namespace(BenchConfig, args) == BenchConfig()
    assert BenchConfig().measurement.min_runs == 50 and BenchConfig().measurement.cell_timeout == 900.0


def test_repeated_device_and_typed_values():
    args = build_parser().parse_args(
        ["bench", "--device", "A", "--device", "B", "--limit", "7", "--crop", "0.875", "--no-cache"]
    )
    config = from_namespace(BenchConfig, args)
    assert config.devices.device == ("A", "B") and config.data.limit == 7 and config.data.crop == 0.875
    assert config.conversion.use_cache is False


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"crop": float("nan")}, "--crop must be a finite number"),
        ({"warmup_seconds": float("inf")}, "--warmup-seconds must be a finite number"),
        ({"limit": 0}, "--limit must be at least 1"),
        ({"crop": 2.0}, "--crop must be between 0.1 and 1"),
        ({"cell_timeout": -1.0}, "--cell-timeout must be positive"),
    ],
)
def test_checks_name_the_flag(change, message):
    with pytest.raises(InputError, match=message):
        validate(BenchConfig.of(**change))


@pytest.mark.parametrize(
    "argv",
    [
        ["check", "--baseline", "a", "--current", "b", "--max-latency-increase", "nan"],
        ["check", "--baseline", "a", "--current", "b", "--alpha", "0"],
        ["check", "--baseline", "a", "--current", "b", "--max-accuracy-drop", "-1"],
    ],
)
def test_check_thresholds_must_be_finite_and_in_range(argv, capsys, tmp_path):
    assert main([*argv, "--db", str(tmp_path / "none.sqlite")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --")


def test_stored_settings_round_trip_including_the_older_comma_joined_device():
    config = BenchConfig.of(modes="none,float16", backends="cpu1", device=("A", "B"), limit=5)
    stored = config.to_stored(["none", "float16"])
    assert BenchConfig.from_stored(stored, "run x") == config
    legacy = {**stored, "device": "A,B"}
    assert BenchConfig.from_stored(legacy, "run x").devices.device == ("A", "B")


def test_a_parse_hook_holds_the_parsed_value_and_shows_the_text_back():
    """--backends and --cpu-mask are parsed once, when the config is built; what is stored and
    shown is the text, which parses back to the same value."""
    from host.bench.config import BenchConfig, CpuMask, Measurement
    from host.errors import InputError
    from host.params import build, flat

    config = BenchConfig.of(backends="cpu4, gpu,cpu4", cpu_mask="0xF0")
    assert config.measurement.backends == ("cpu4", "gpu") and config.measurement.cpu_mask == CpuMask("mask", 0xF0)
    assert flat(config)["backends"] == "cpu4,gpu" and flat(config)["cpu_mask"] == "0xf0"
    assert build(Measurement, flat(config.measurement)) == config.measurement
    assert Measurement().cpu_mask.resolve(0xF) == 0 and CpuMask.parse("auto").resolve(0xF) == 0xF
    for flag, value, said in (
        ("backends", "cpu1,tpu", "--backends"),
        ("cpu_mask", "0xzz", "--cpu-mask must be auto"),
        ("cpu_mask", "0", "--cpu-mask must name at least one CPU"),
    ):
        with pytest.raises(InputError, match=said):
            BenchConfig.of(**{flag: value})
