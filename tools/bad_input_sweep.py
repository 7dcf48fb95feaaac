"""The bad-input sweep: every command given input it must refuse, each run as a user would (a
fresh process, one HOME, no device attached), and how each ended.

A case is right when it ends with exit 2 and one line on stderr, before any device work (a
case that starts measuring runs into the 90 s limit and shows as ``timeout``), except the few in
``BY_DESIGN``, which say why they are accepted. What it prints is one JSON line per case and a
summary; docs/benching.md quotes the summary. It takes about ten minutes (a fresh
Python per case, TensorFlow loaded again for the conversion cases); CI runs the same cases in one
process (``tests/integration/test_bad_input_sweep.py``), in about 25 s.

    python tools/bad_input_sweep.py [--out sweep.jsonl]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NEEDS_DB = ("bench", "report", "check", "recommend", "compare", "tune", "debug")


def fixtures(folder: Path) -> str:
    """The bad files the cases name: empty, random and truncated models, folders with no or
    broken images, label files with blank lines."""
    from PIL import Image

    for name in ("emptydir", "broken/cat", "notimg/cat", "good/cat", "good/dog"):
        (folder / name).mkdir(parents=True, exist_ok=True)
    (folder / "broken" / "cat" / "a.jpg").write_bytes(os.urandom(3000))
    (folder / "empty.tflite").write_bytes(b"")
    (folder / "junk.tflite").write_bytes(os.urandom(5000))
    (folder / "junk.keras").write_bytes(os.urandom(5000))
    (folder / "text.h5").write_text("hi\n")
    (folder / "blank_labels.txt").write_text("a\n\nb\n")
    (folder / "empty_labels.txt").write_text("")
    (folder / "bad.json").write_text("not json\n")
    (folder / "wrongrun.json").write_text('{"run_id": 5}')
    (folder / "notimg" / "cat" / "readme.txt").write_text("x\n")
    for kind in ("cat", "dog"):
        Image.new("RGB", (40, 40)).save(folder / "good" / kind / "1.png")
    (folder / "bomb").mkdir(exist_ok=True)
    (folder / "bomb" / "bomb.png").write_bytes(bomb_png(20000))
    (folder / "broken.npz").write_bytes(b"PK\x03\x04" + os.urandom(200))
    (folder / "nococo.json").write_text('{"images": [], "annotations": [{"image_id": 1}], "categories": []}')
    return str(folder)


def bomb_png(side: int) -> bytes:
    """A PNG whose header declares side x side pixels (400 M at 20000): a few bytes on disk that a
    decoder would turn into gigabytes (Pillow's decompression-bomb check refuses it on open)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


def cases(S: str) -> list[str]:
    return [
        # convert
        "convert",
        "convert nosuch.keras",
        f"convert {S}/empty.tflite",
        f"convert {S}/junk.tflite",
        f"convert {S}/junk.keras",
        f"convert {S}/text.h5",
        "convert demo --modes bogus",
        "convert demo --modes ''",
        "convert demo --modes none,none,bogus",
        "convert demo --calibration /nonexistent",
        f"convert demo --calibration {S}/emptydir",
        f"convert demo --calibration {S}/broken",
        "convert demo --calibration-count 0",
        "convert demo --calibration-count -5",
        "convert demo --calibration-count x",
        "convert demo --io-type int4",
        "convert demo --preset bogus",
        "convert demo --qat-epochs -1",
        "convert demo --keep-float nosuchlayer",
        f"convert demo --out {S}/empty.tflite",
        "convert demo --out /proc/forbidden --modes none",
        "convert demo --train-data /nonexistent",
        # bench
        "bench --model nosuch.keras",
        f"bench --model {S}/junk.tflite",
        f"bench --model {S}/empty.tflite",
        f"bench --model {S}/junk.keras",
        "bench --dataset /nonexistent",
        f"bench --dataset {S}/emptydir",
        f"bench --dataset {S}/notimg",
        f"bench --dataset {S}/broken",
        f"bench --labels {S}/blank_labels.txt",
        f"bench --labels {S}/empty_labels.txt",
        "bench --labels /nonexistent",
        "bench --limit 0",
        "bench --limit -3",
        "bench --limit abc",
        "bench --label-offset -1",
        "bench --crop 0",
        "bench --crop 1.5",
        "bench --crop abc",
        "bench --modes bogus",
        "bench --backends gpu9",
        "bench --backends ''",
        "bench --warmup-runs -1",
        "bench --warmup-seconds -1",
        "bench --min-runs 0",
        "bench --min-seconds -1",
        "bench --max-seconds 0",
        "bench --min-seconds 5 --max-seconds 1",
        "bench --cell-timeout 0",
        "bench --cell-timeout -4",
        "bench --cpu-mask zz",
        "bench --cpu-mask 0",
        "bench --repeats 0",
        "bench --repeats -1",
        "bench --order random",
        "bench --seed abc",
        "bench --cooldown -1",
        "bench --cool-below -300",
        "bench --sustained -1",
        "bench --sustained 1 --sustained-cells nonsense",
        "bench --device ''",
        "bench --device 'a;b'",
        "bench --adb-server nohost",
        "bench --adb-server host:0",
        "bench --adb-server host:99999",
        "bench --adb-server :5037x",
        "bench --stf not_a_url",
        "bench --stf http://127.0.0.1:7100 --stf-filter 'sdk>>30'",
        "bench --stf-timeout -1",
        "bench --reconnect-wait -1",
        "bench --device-python ''",
        "bench --gpu-delegate /nonexistent.so",
        "bench --cache-max-mb -1",
        "bench --cache-max-days -1",
        "bench --device-store-max-mb -1",
        "bench --json /nonexistent/dir/x.json",
        "bench --report /nonexistent/dir/x.html",
        f"bench --report {S}/x.txt",
        "bench --db /nonexistent/dir/r.sqlite",
        f"bench --db {S}/junk.tflite",
        "bench --db 'postgresql://[::1'",
        "bench --db mysql://x/y",
        "bench --resume nosuchrun",
        "bench --resume ''",
        "bench --resume '%'",
        "bench --all-devices --device x",
        "bench --no-such-option",
        "bench --qat-epochs abc",
        "bench --weights --modes none",
        # report / check / recommend
        "report nosuchrun",
        "report '%'",
        "report '_%'",
        f"report {S}/bad.json",
        f"report {S}/wrongrun.json",
        "report latest --format xml",
        "report latest --top 0",
        "report latest --cell bogus",
        "report latest -o /nonexistent/x.md",
        f"report latest --db {S}/junk.tflite",
        "check",
        "check --baseline nosuch --current nosuch",
        f"check --baseline {S}/bad.json --current {S}/bad.json",
        "check --baseline a --current b --alpha 2",
        "check --baseline a --current b --alpha -0.1",
        "check --baseline a --current b --confidence 1.5",
        "check --baseline a --current b --min-repeats 0",
        "check --baseline a --current b --max-latency-increase -5",
        "check --baseline a --current b --inconclusive maybe",
        "check --baseline a --current b --junit /nonexistent/x.xml",
        "recommend --min-accuracy 200",
        "recommend --min-accuracy -1",
        "recommend --max-size -1",
        "recommend --max-latency 0",
        "recommend --backend gpu9",
        "recommend nosuchrun",
        "recommend --report /nonexistent/x.html",
        # compare
        "compare",
        "compare demo",
        "compare nosuch.keras nosuch2.keras",
        f"compare {S}/junk.tflite {S}/junk.tflite",
        "compare demo demo --budget 0",
        "compare demo demo --budget -1",
        "compare demo demo --max-repeats 0",
        "compare demo demo --alpha 5",
        # debug / tune
        "debug nosuch.keras",
        f"debug {S}/junk.keras",
        "debug demo --count 0",
        "debug demo --top 0",
        "debug demo --backend gpu9",
        f"debug demo --dataset {S}/emptydir",
        f"debug demo --calibration {S}/broken",
        "tune nosuch.keras",
        "tune demo --max-accuracy-drop -1",
        "tune demo --candidates 0",
        "tune demo --budget 0",
        "tune demo --backend bogus",
        f"tune demo --dataset {S}/emptydir",
        f"tune demo --labels {S}/blank_labels.txt",
        # devices / emulator / doctor / provision / agent-command / cache
        "devices --adb-server nohost",
        "emulator",
        "emulator start --profile bogus",
        "emulator stop nosuch",
        "emulator bogus",
        "doctor --adb-server host:0",
        "doctor --device-python ''",
        "provision --litert /nonexistent",
        "provision --litert-version abc",
        "provision --litert-version 2.3.1",
        "agent-command --adb-server host:99999",
        "cache",
        "cache prune --max-days abc",
        "cache prune --max-days -1",
        "cache bogus",
        "nosuchcommand",
        "--version extra",
        # round 4: empty items and names, decompression bombs, tensor samples and task labels
        "convert demo --keep-float ,,,",
        "bench --backends cpu1,,",
        "bench --stf http://127.0.0.1:7100 --stf-filter 'sdk=30,,abi=x'",
        "bench --db ''",
        "report latest --db ''",
        "report ''",
        "recommend ''",
        "check --baseline '' --current x",
        f"bench --dataset {S}/bomb",
        f"convert demo --calibration {S}/bomb",
        f"debug demo --dataset {S}/bomb",
        f"bench --dataset {S}/broken.npz",
        f"convert demo --calibration {S}/broken.npz",
        f"bench --dataset {S}/good --labels {S}/nococo.json",
        "bench --task segment",
        "bench --task bogus",
    ]


# Accepted on purpose, each for the reason given; the sweep reports them apart from the rest.
BY_DESIGN = {
    "convert demo --keep-float nosuchlayer": (
        "exit 1 after the other builds: the layer is looked up in the converted graph, "
        "and the builds that do not need it are kept"
    ),
    "bench --gpu-delegate /nonexistent.so": (
        "a path on the device, which only the device can check: its cells say unavailable"
    ),
    "bench --report {S}/x.txt": "the report's format is chosen by --format, not by the file's suffix: it measures",
    "--version extra": "argparse's version action prints the version and exits 0 before reading further",
}


def by_design(S: str) -> dict[str, str]:
    """``BY_DESIGN`` with the fixtures' folder filled in, as ``cases(S)`` names them."""
    return {case.replace("{S}", S): why for case, why in BY_DESIGN.items()}


def case_args(case: str, work: Path) -> list[str]:
    """The case's command line, with its own output folder and database where the command takes one."""
    args = shlex.split(case)
    if args and args[0] == "convert" and "--out" not in args:
        args += ["--out", str(work / "out")]
    if args and args[0] in NEEDS_DB and "--db" not in args:
        args += ["--db", str(work / "r.sqlite")]
    return args


def run_case(case: str, home: Path) -> dict[str, object]:
    work = Path(tempfile.mkdtemp(prefix="case-", dir=home))
    argv = [sys.executable, "-m", "host.cli", *case_args(case, work)]
    env = {**os.environ, "HOME": str(home), "PYTHONPATH": str(ROOT)}
    started = time.monotonic()
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=90, env=env, cwd=work)
        code: object = proc.returncode
        err = [line for line in proc.stderr.splitlines() if line.strip()]
    except subprocess.TimeoutExpired:
        code, err = "timeout", []
    right = code == 2 and len(err) == 1 and "Traceback" not in "\n".join(err)
    return {
        "case": case,
        "exit": code,
        "stderr_lines": len(err),
        "last": err[-1][:240] if err else "",
        "seconds": round(time.monotonic() - started, 1),
        "right": right,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="also write the JSON lines here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="qb-sweep-") as scratch:
        home = Path(scratch) / "home"
        home.mkdir()
        folder = fixtures(Path(scratch) / "inputs")
        accepted = by_design(folder)
        results = [run_case(case, home) for case in cases(folder)]
        subprocess.run(
            [sys.executable, "-m", "host.cli", "emulator", "stop", "--all"],
            env={**os.environ, "HOME": str(home)},
            capture_output=True,
            check=False,
        )
    lines = [json.dumps(r) for r in results]
    print("\n".join(lines))
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")
    right = sum(1 for r in results if r["right"])
    designed = sum(1 for r in results if not r["right"] and r["case"] in accepted)
    print(f"cases={len(results)} exit_2_one_line={right} by_design={designed} other={len(results) - right - designed}")


if __name__ == "__main__":
    main()
