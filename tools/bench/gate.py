"""Benchmark: how often the release gate is wrong, on the emulated device.

Builds two float models that differ only in depth: the slower one has 10% more of the same
convolution blocks (its true slowdown is measured too, from every A/B comparison's repeats).
Then runs ``host compare`` K times with identical builds (A/A: any "regressed" is a false
positive) and K times against the slower build (A/B: "regressed" is a detection), each on the
gate's defaults, each its own session on one emulated device started for the benchmark.

    python tools/bench/gate.py [--k 20] [--slowdown 0.10] [--budget 5] [--smoke]

``--smoke`` (one comparison of each kind, a 0.1-minute budget) proves it still works. A private adb
server and the benchmark's own data and cache folders are used, never the user's.

Last line: ``false_positive_rate= detection_rate= inconclusive_aa= inconclusive_ab=
median_decision_s= true_slowdown_pct=``. Goals at the defaults: false positives <= 0.05,
detection >= 0.9 for a 10% slowdown.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from host.devices.transport.adb import private_server  # noqa: E402
from tools.bench.common import timed_host  # noqa: E402

BASE_BLOCKS = 20


def conv_stack(blocks: int, path: Path) -> Path:
    """An image model of ``blocks`` identical 3x3 convolutions: compute grows with ``blocks``."""
    from host.convert import tfenv

    tf, keras = tfenv.tf(), tfenv.keras()
    keras.utils.set_random_seed(0)
    inp = keras.Input((48, 48, 3), batch_size=1)
    x = keras.layers.Conv2D(24, 3, padding="same", activation="relu")(inp)
    for _ in range(blocks - 1):
        x = keras.layers.Conv2D(24, 3, padding="same", activation="relu")(x)
    model = keras.Model(inp, keras.layers.Dense(10)(keras.layers.GlobalAveragePooling2D()(x)))
    with tfenv.silenced():
        path.write_bytes(bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert()))
    return path


TIMING = ("--min-runs", "20", "--min-seconds", "0.2")
SMOKE_TIMING = ("--min-runs", "5", "--min-seconds", "0", "--warmup-seconds", "0")


def compare(
    work: Path, serial: str, baseline: Path, current: Path, budget: float, i: int, timing: tuple[str, ...] = TIMING
) -> tuple[str, float, float]:
    """(verdict of the latency check, device seconds, measured change) of one host compare."""
    out = work / f"verdicts-{i}.json"
    _, stdout = timed_host(
        [
            "compare",
            str(baseline),
            str(current),
            "--device",
            serial,
            "--modes",
            "none",
            "--backends",
            "cpu1",
            *timing,
            "--budget",
            str(budget),
            "--db",
            str(work / "results.sqlite"),
            "--json",
            str(out),
        ]
    )
    latency = next(f for f in json.loads(out.read_text())["findings"] if f["check"] == "latency")
    seconds = float(stdout.rsplit(" min of device time", 1)[0].rsplit(" ", 1)[-1]) * 60
    return latency["verdict"], seconds, float(latency.get("change") or 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--k", type=int, default=20, help="comparisons of each kind")
    parser.add_argument("--slowdown", type=float, default=0.10, help="extra depth of the slower build (fraction)")
    parser.add_argument("--budget", type=float, default=5.0, help="--budget of each host compare, minutes")
    parser.add_argument(
        "--smoke", action="store_true", help="one comparison of each kind, a short budget: proves it works"
    )
    args = parser.parse_args()
    if args.smoke:
        args.k, args.budget = 1, 0.1
    with tempfile.TemporaryDirectory(prefix="gate-bench-") as tmp, private_server():
        work = Path(tmp)
        os.environ["QUANTBENCH_DATA_DIR"], os.environ["QUANTBENCH_CACHE_DIR"] = str(work / "data"), str(work / "cache")
        base = conv_stack(BASE_BLOCKS, work / "base.tflite")
        slower = conv_stack(round(BASE_BLOCKS * (1 + args.slowdown)), work / "slower.tflite")
        _, started = timed_host(["emulator", "start"])
        serial = started.strip().splitlines()[-1]
        try:
            timing = SMOKE_TIMING if args.smoke else TIMING
            aa = [compare(work, serial, base, base, args.budget, i, timing) for i in range(args.k)]
            ab = [compare(work, serial, base, slower, args.budget, args.k + i, timing) for i in range(args.k)]
        finally:
            timed_host(["emulator", "stop", "--serial", serial])
    for name, results in (("A/A", aa), ("A/B", ab)):
        print(f"{name}: " + ", ".join(f"{v} {s:.0f}s {100 * c:+.1f}%" for v, s, c in results))
    rate = lambda results, verdict: sum(v == verdict for v, _, _ in results) / len(results)  # noqa: E731
    decided = [s for v, s, _ in aa + ab if v != "inconclusive"] or [0.0]
    print(
        f"false_positive_rate={rate(aa, 'regressed'):.3f} detection_rate={rate(ab, 'regressed'):.3f} "
        f"inconclusive_aa={rate(aa, 'inconclusive'):.3f} inconclusive_ab={rate(ab, 'inconclusive'):.3f} "
        f"median_decision_s={statistics.median(decided):.0f} "
        f"true_slowdown_pct={100 * statistics.median(c for _, _, c in ab):.1f}"
    )


if __name__ == "__main__":
    main()
