"""The decisions of debug, tune and recommend, on numbers made for them (no TensorFlow)."""

from __future__ import annotations

import statistics

import numpy as np
import pytest

from host.convert.graph import GraphOp, layers_of, neighbours
from host.convert.selective import resolve
from host.errors import InputError
from host.quant.debug import ChannelErrors
from host.quant.pareto import Build, dominates, pareto_front, recommend
from host.quant.tune import Candidate, _cumulative, _prune, _units
from tests import records

FUSED = (
    "model_1/block7_project_bn_1/batchnorm/add_1;model_1/block7_project_1/convolution;"
    "model_1/block7_project_bn_1/batchnorm/sub1"
)


def test_fused_tensor_names_map_back_to_keras_layers():
    known = ["block7_project", "block7_project_bn", "head", "dense_1"]
    assert layers_of(FUSED, known) == ("block7_project_bn", "block7_project")
    assert layers_of(FUSED) == ("block7_project_bn", "block7_project")  # without the model: the instance suffix goes
    assert layers_of("model_1/dense_1/MatMul", known) == ("dense_1",)  # a layer really named dense_1 keeps its name
    assert layers_of("StatefulPartitionedCall_1:0", known) == ()


def _op(depth: int, layer: str, op_type: str = "CONV_2D", reads: str = "") -> GraphOp:
    return GraphOp(depth, op_type, f"t/{layer}", (layer,), (reads,) if reads else ())


OPS = [_op(0, "stem"), _op(1, "mix", reads="t/stem"), _op(2, "wide", reads="t/mix"), _op(3, "pool", "MEAN", "t/wide")]


def test_keep_float_resolves_layers_and_op_types_and_suggests_on_a_typo():
    keep = resolve(["mix", "MEAN"], OPS)
    assert keep.nodes == ("t/mix",) and keep.op_types == ("MEAN",) and keep.layers == ("mix",)
    with pytest.raises(InputError, match="did you mean mix"):
        resolve(["mixx"], OPS)
    assert neighbours(OPS)["t/mix"] == ("t/wide",)


def test_per_channel_damage_sees_what_the_tensor_rmse_in_steps_hides():
    """One channel 200x wider: the scale follows it, RMSE/scale looks fine, the rest collapse."""
    rng = np.random.default_rng(0)
    reference = rng.normal(0, 1, (400, 8))
    reference[:, 0] *= 200
    scale = (reference.max() - reference.min()) / 255
    quantized = np.round(reference / scale) * scale
    channels = ChannelErrors(8)
    channels.add(reference, quantized)
    summary = channels.summary(scale)
    assert summary["rmse_over_scale"] < 0.35  # about 1/sqrt(12): perfect rounding, per tensor
    assert summary["collapsed_channels"] == 7 and summary["signal_lost"] > 0.6
    healthy = ChannelErrors(8)
    plain = rng.normal(0, 1, (400, 8))
    step = (plain.max() - plain.min()) / 255
    healthy.add(plain, np.round(plain / step) * step)
    assert healthy.summary(step)["signal_lost"] < 0.05 and healthy.summary(step)["collapsed_channels"] == 0


class FakeSearch:
    """The device as a table: accuracy by the set kept in float."""

    def __init__(self, accuracy: dict[frozenset[str], float], budget_runs: int = 99) -> None:
        self.accuracy, self.runs, self.budget_runs = accuracy, 0, budget_runs
        self.by_key: dict[str, Candidate] = {"base": Candidate("integer", (), (), "base", top1=accuracy[frozenset()])}

    def budget_left(self) -> bool:
        return self.runs < self.budget_runs

    def candidate(self, keep, step):
        return Candidate("keep:" + "+".join(keep), tuple(keep), tuple(keep), step)

    def measure(self, wanted):
        self.runs += 1
        for c in wanted:
            c.top1, c.run_id = self.accuracy.get(frozenset(c.keep), 40.0), "r"


def _probe(keep: tuple[str, ...], top1: float) -> tuple[tuple[str, ...], Candidate]:
    return keep, Candidate("p", keep, keep, "single", top1=top1, run_id="r")


def test_cumulative_fallback_goes_on_when_no_single_fallback_gains():
    """Neither mix nor wide alone helps; both together do: the search must not stop at the singles."""
    device = FakeSearch({frozenset(): 40.0, frozenset({"mix", "wide"}): 99.0})
    order = [_probe(("mix",), 40.0), _probe(("wide",), 40.0), _probe(("pool",), 40.0)]
    chosen, stopped = _cumulative(device, order, lambda c: (c.top1 or 0) >= 98.0)
    assert stopped == "target met" and set(chosen.keep) == {"mix", "wide"}
    pruned = _prune(device, chosen, lambda c: (c.top1 or 0) >= 98.0)
    assert set(pruned.keep) == {"mix", "wide"}, "neither can be dropped"


def test_prune_drops_a_layer_the_target_does_not_need():
    device = FakeSearch({frozenset(): 40.0, frozenset({"a", "b"}): 99.0, frozenset({"a"}): 98.5})
    chosen = Candidate("keep:a+b", ("a", "b"), ("a", "b"), "cumulative", top1=99.0, run_id="r")
    assert _prune(device, chosen, lambda c: (c.top1 or 0) >= 98.0).keep == ("a",)


def test_a_spent_budget_stops_the_cumulative_search():
    device = FakeSearch({frozenset(): 40.0, frozenset({"mix", "wide"}): 99.0}, budget_runs=0)
    _, stopped = _cumulative(device, [_probe(("mix",), 40.0), _probe(("wide",), 40.0)], lambda c: (c.top1 or 0) >= 98.0)
    assert stopped == "budget spent before the target was met" and device.runs == 0


def test_units_are_the_worst_ops_and_their_producer_consumer_pairs():
    from host.quant.debug import LayerError

    def error(tensor: str, lost: float) -> LayerError:
        return LayerError(0, tensor, (tensor,), "CONV_2D", tensor, 1, 0.1, 0, 0.0, 0.3, 0.0, 0.0, 8, 8, lost, 0, 1.0)

    ranked = [error("t/mix", 0.9), error("t/pool", 0.3), error("t/wide", 0.2), error("t/stem", 0.01)]
    assert _units(ranked, 3, neighbours(OPS)) == [
        ("t/mix",),
        ("t/pool",),
        ("t/wide",),
        ("t/mix", "t/wide"),
        ("t/wide", "t/pool"),
    ]


def _cell(mode: str, backend: str, top1: float, ms: float, size: int):
    return records.cell("A", mode, backend, samples=(ms,) * 5, top1=top1, size=size)


RUN = records.run(
    "r1",
    [
        _cell("none", "cpu1", 0.998, 2.0, 655_000),
        _cell("integer", "cpu1", 0.56, 0.7, 261_000),
        _cell("integer+keep2", "cpu1", 0.998, 0.75, 400_000),
        _cell("float16", "cpu1", 0.998, 2.0, 352_000),
        _cell("dynamic_range", "cpu1", 0.998, 1.4, 233_000),
        _cell("int16x8", "cpu1", 0.998, 30.0, 297_000),
    ],
    modes=("none", "integer", "integer+keep2", "float16", "dynamic_range", "int16x8"),
    backends=("cpu1",),
    devices=[records.device("A")],
)


def test_the_front_holds_only_builds_nothing_beats_on_all_three():
    builds = [
        Build("a", "cpu1", 99.0, 1.0, 1.0),
        Build("b", "cpu1", 98.0, 2.0, 2.0),
        Build("c", "cpu1", 50.0, 0.5, 0.3),
    ]
    assert dominates(builds[0], builds[1]) and not dominates(builds[0], builds[2])
    assert [b.mode for b in pareto_front(builds)] == ["c", "a"]


def test_recommend_keeps_accuracy_by_default_and_honours_the_limits():
    pick = recommend(RUN)
    assert pick.pick and pick.pick.mode == "integer+keep2"  # integer is faster but lost 44 points
    assert "integer on cpu1 is 1.07x faster but scores 56.0%" in pick.reason
    assert {b.mode for b in pick.front} >= {"integer+keep2", "dynamic_range"}
    assert "integer" not in {b.mode for b in pick.front}, "44 points under the float build's top-1: not a trade-off"
    assert "int16x8" not in {b.mode for b in pick.front}
    assert recommend(RUN, max_size=0.3).pick.mode == "dynamic_range"  # type: ignore[union-attr]
    assert recommend(RUN, min_accuracy=50).pick.mode == "integer"  # type: ignore[union-attr]
    none_fit = recommend(RUN, max_latency=0.1)
    assert none_fit.pick is None and "no build meets the limits" in none_fit.reason
    assert recommend(RUN, backend="gpu").pick is None


def test_a_latency_difference_inside_the_noise_never_decides_the_pick():
    """The issue's detector: 1.240 +-2.375 ms beat 1.260 +-1.698 ms. Here the faster build is 8%
    faster (past the 5% tie) but its repeats scatter: the smaller build wins, and says why."""

    def build(mode: str, medians: tuple[float, ...], size: int):
        return records.cell(
            "A", mode, "cpu1", samples=(statistics.median(medians),) * 5, top1=0.9, size=size, medians=medians
        )

    noisy = records.run(
        "n",
        [build("big_fast", (0.6, 1.4, 0.8), 900_000), build("small", (1.0, 1.02, 0.98), 300_000)],
        modes=("big_fast", "small"),
        backends=("cpu1",),
        devices=[records.device("A")],
    )
    chosen = recommend(noisy)
    assert chosen.pick is not None and chosen.pick.mode == "small"
    assert "inside the noise" in chosen.reason and "big_fast on cpu1" in chosen.reason
    steady = records.run(
        "s",
        [build("big_fast", (0.8, 0.81, 0.79), 900_000), build("small", (1.0, 1.01, 0.99), 300_000)],
        modes=("big_fast", "small"),
        backends=("cpu1",),
        devices=[records.device("A")],
    )
    assert recommend(steady).pick.mode == "big_fast"  # type: ignore[union-attr]


def test_a_stored_run_with_variants_resumes_with_its_known_modes():
    """A run's stored modes include integer+keep2 (or a tune candidate); resume parses modes, and
    the variants come back through --keep-float or the build folder's manifest."""
    from host.bench.config import BenchConfig

    config = BenchConfig.from_stored(
        {"modes": ["none", "integer", "integer+keep2"], "backends": ["cpu1"], "keep_float": "block7_project,head"},
        "run r",
    )
    assert config.conversion.mode_request.names == ["none", "integer"]
    assert config.conversion.keep_float_layers == ("block7_project", "head")
    assert BenchConfig.from_stored({"modes": ["keep:mix", "keep:mix+wide"]}, "run r").conversion.modes == "all"


@pytest.mark.parametrize("backend", ["bogus", "cpu0"])
def test_a_backend_bench_would_refuse_is_refused_before_any_work(backend):
    from host.params import validate
    from host.quant.options import RecommendOptions, TuneOptions

    for options in (TuneOptions(model="demo", out="x", backend=backend), RecommendOptions(backend=backend)):
        with pytest.raises(InputError, match="--backend names no backend"):
            validate(options)
    validate(TuneOptions(model="demo", out="x", backend="cpu4"))
