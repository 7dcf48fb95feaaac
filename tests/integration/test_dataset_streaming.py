"""Host memory stays bounded while packing: under an address-space limit far below the decoded
size of the images, packing succeeds (and the old all-in-memory load does not)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
from PIL import Image

CHILD = r"""
import resource, sys
from pathlib import Path
from host.data.datasets import slice_dataset
from host.data.images import load_image_set
from host.data.packed import pack
root, out = Path(sys.argv[1]), Path(sys.argv[2])
slices = slice_dataset(root, labels_file=None, limit=None, calibration_count=1, take_calibration=False)
size = int([l for l in open("/proc/self/status") if l.startswith("VmSize")][0].split()[1]) * 1024
resource.setrlimit(resource.RLIMIT_AS, (size + 120_000_000, size + 120_000_000))  # 120 MB for 180 MB of images
packed = pack(slices.pool, len(slices.pool), (224, 224), 1.0, out, workers=1)
print("packed", packed.count, packed.path.stat().st_size)
try:
    load_image_set(slices.evaluation, (224, 224))
    print("in-memory fits")
except MemoryError:
    print("in-memory MemoryError")
"""


def test_packing_1200_images_of_224x224_fits_in_120_mb_more(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(1200):
        folder = tmp_path / "ds" / f"class_{i % 4}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).resize((320, 240)).save(
            folder / f"{i:04d}.jpg"
        )
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "ds"), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.split("\n")
    assert lines[0].startswith("packed 1200 ") and int(lines[0].split()[2]) > 1200 * 224 * 224 * 3
    assert lines[1] == "in-memory MemoryError", "the limit is real: the images do not fit in it at once"
