"""Benchmark: one controller driving a farm of N emulated devices (N = 1, 2, 4).

Starts a private adb server and N emulated phones, primes the conversion and dataset caches with
one bench, then times ``host bench --device ... (N times)`` in a fresh process for each N: the
controller's own CPU time (user + system of the host process and its children, from wait4, so
the phones' agents and workers are not counted) per cell, and the wall time against N = 1.

    python tools/bench/farm.py [--sizes 1,2,4] [--limit 50] [--smoke]

``--smoke`` (N = 1 and 2, the float build on cpu1, 5 images, no priming run) proves it still works.

Last line: ``controller_cpu_ms_per_cell= controller_cpu_s_per_bench= wall_ratio_2= wall_ratio_4=``
(the CPU per cell is the slope of CPU against cells over the three runs; per bench, the rest) (ratios of N devices' wall
time to one device's; the emulated phones share this machine's cores, so the ratio shows the
controller's overhead plus the phones competing for CPU, which real phones do not).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402

from host.devices.transport.adb import private_server  # noqa: E402
from host.emulator import manager  # noqa: E402

MODES, BACKENDS = "none,float16,integer", "cpu1,cpu4"


def bench(
    serials: list[str], db: Path, limit: int, cells: tuple[str, str] = (MODES, BACKENDS)
) -> tuple[float, float, int]:
    """(wall seconds, controller CPU seconds, cells) of one host bench over ``serials``."""
    modes, backends = cells
    argv = [
        sys.executable,
        "-m",
        "host.cli",
        "bench",
        "--modes",
        modes,
        "--backends",
        backends,
        "--limit",
        str(limit),
        "--min-runs",
        "20",
        "--min-seconds",
        "0.2",
        "--db",
        str(db),
    ]
    for serial in serials:
        argv += ["--device", serial]
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, "COLUMNS": "160"}
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"host bench failed: {proc.stderr.read().decode()[-800:] if proc.stderr else ''}")
    return wall, usage.ru_utime + usage.ru_stime, len(serials) * len(modes.split(",")) * len(backends.split(","))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1,2,4")
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument("--smoke", action="store_true", help="N = 1 and 2, one cell each, 5 images: proves it works")
    args = parser.parse_args()
    sizes = [1, 2] if args.smoke else [int(n) for n in args.sizes.split(",")]
    cells = ("none", "cpu1") if args.smoke else (MODES, BACKENDS)
    limit = 5 if args.smoke else args.limit
    with tempfile.TemporaryDirectory(prefix="bench-farm-") as work, private_server() as address:
        root = Path(work)
        os.environ["QUANTBENCH_DATA_DIR"] = str(root / "data")
        os.environ["QUANTBENCH_CACHE_DIR"] = str(root / "cache")
        phones = [manager.start(address, 0, root / f"phone{i}", profile="shell-python") for i in range(max(sizes))]
        try:
            serials = [p.serial for p in phones]
            if not args.smoke:  # the smoke size's first bench primes them itself (its figures then mean nothing)
                bench(
                    serials[:1], root / "prime.sqlite", limit, cells
                )  # conversions, the packed dataset, agents' stores
            results = {n: bench(serials[:n], root / f"farm{n}.sqlite", limit, cells) for n in sizes}
        finally:
            for phone in phones:
                manager.stop_state(address, phone)
    for n, (wall, cpu, cells) in results.items():
        print(
            f"N={n}: {cells} cells, wall {wall:.1f} s, controller CPU {cpu:.2f} s ({1000 * cpu / cells:.0f} ms per "
            "cell)"
        )
    # a straight line through (cells, CPU): its slope is what one more cell costs the controller,
    # its intercept what any bench costs (starting Python, imports, opening sessions)
    slope, fixed = np.polyfit([c for _, _, c in results.values()], [cpu for _, cpu, _ in results.values()], 1)
    one = results[sizes[0]][0]
    ratios = " ".join(f"wall_ratio_{n}={results[n][0] / one:.2f}" for n in sizes[1:])
    print(f"controller_cpu_ms_per_cell={1000 * slope:.0f} controller_cpu_s_per_bench={fixed:.2f} {ratios}")


if __name__ == "__main__":
    main()
