"""Evaluation datasets: resolve the layout, slice evaluation and calibration apart, pack for the device.

Layouts: class subfolders (labels are sorted folder indices), or ILSVRC2012 validation (a flat
folder plus a labels file with one class index per line, in sorted file-name order, as TFLite's
``run_eval`` takes it), or a flat folder without labels (then accuracy is n/a with the reason).

Order: labelled class folders are interleaved (one image per class in turn) so ``--limit``
keeps every class; flat folders keep file-name order. When calibration images come from the
same dataset, they are its *last* ``calibration_count`` images in that order and evaluation
takes the first ``limit`` of the rest: never the same image in both.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from host.data.images import ImageEntry, decode_rgb, list_images, round_robin
from host.errors import DatasetError


@dataclass(frozen=True)
class DatasetSlices:
    name: str
    evaluation: tuple[ImageEntry, ...]  # the images evaluated (--limit applied)
    calibration: tuple[ImageEntry, ...]
    class_names: tuple[str, ...]
    labelled: bool
    pool: tuple[ImageEntry, ...] = ()  # every evaluation image in order, before --limit: packed files are its prefixes


def read_labels(path: Path, count: int) -> list[tuple[int, int]]:
    """(line number, class index) for each line; a line that is not a class index is an error, and
    so is a blank line before the last label: skipping it would shift every later label by one."""
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetError(f"cannot read labels file {path}: {e}") from e
    while lines and not lines[-1].strip():  # blank lines after the last label are only the file's end
        lines.pop()
    labels = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            raise DatasetError(
                f"{path} line {number} is blank: each image needs its class index on its own line, in "
                "sorted file-name order (a skipped line would shift every later label by one)"
            )
        word = line.split()[-1]
        if not word.lstrip("-").isdigit():
            raise DatasetError(f"{path} line {number}: {line.strip()[:40]!r} is not a class index")
        if int(word) < 0:
            raise DatasetError(f"{path} line {number}: {word} is not a class index (0 or more)")
        labels.append((number, int(word)))
    if len(labels) != count:
        raise DatasetError(f"labels file {path} has {len(labels)} lines but the folder has {count} images")
    return labels


def check_labels(entries: tuple[ImageEntry, ...], classes: int, offset: int) -> None:
    """Every label (plus --label-offset) must name one of the model's classes: the first that does
    not is an error naming where it came from, instead of an image silently scored wrong."""
    if classes <= 0:
        return
    for entry in entries:
        if entry.label >= 0 and not 0 <= entry.label + offset < classes:
            shifted = f" + --label-offset {offset}" if offset else ""
            raise DatasetError(
                f"{entry.origin or entry.path}: label {entry.label}{shifted} is outside the model's "
                f"{classes} classes (0..{classes - 1})"
            )


def check_listed(slices: DatasetSlices, offset: int) -> None:
    """What can be told of the evaluation images before the model's input size is known (so before
    any device is started): a label the offset makes negative, and a folder none of whose images
    decodes. A readable image ends the search, so a good folder costs one decode."""
    for entry in slices.evaluation:
        if entry.label >= 0 and entry.label + offset < 0:
            raise DatasetError(
                f"{entry.origin or entry.path}: label {entry.label} + --label-offset {offset} is negative"
            )
    if slices.evaluation and not any(decode_rgb(entry.path, (8, 8)) is not None for entry in slices.evaluation):
        raise DatasetError(
            f"no readable evaluation images in {slices.evaluation[0].path.parent}: "
            f"{len(slices.evaluation)} file(s) could not be decoded"
        )


def slice_dataset(
    root: Path, *, labels_file: Path | None, limit: int | None, calibration_count: int, take_calibration: bool
) -> DatasetSlices:
    listing = list_images(root)
    entries = listing.entries
    if labels_file is not None:
        if listing.class_names:
            raise DatasetError(f"{root} has class subfolders; --labels is for a flat folder (ILSVRC layout)")
        labels = read_labels(labels_file, len(entries))
        entries = tuple(
            ImageEntry(e.path, label, f"{labels_file} line {number}")
            for e, (number, label) in zip(entries, labels, strict=True)
        )
    elif listing.class_names:
        entries = round_robin(entries)
    calibration: tuple[ImageEntry, ...] = ()
    if take_calibration:
        if len(entries) <= calibration_count:
            raise DatasetError(
                f"{root} has {len(entries)} images: too few to keep {calibration_count} calibration images apart "
                "from evaluation; pass --calibration DIR or a smaller --calibration-count"
            )
        calibration, entries = entries[-calibration_count:], entries[:-calibration_count]
    pool = entries
    if limit is not None:
        if limit < 1:
            raise DatasetError("--limit must be at least 1")
        entries = entries[:limit]
    labelled = any(e.label >= 0 for e in entries)
    return DatasetSlices(root.name, entries, calibration, listing.class_names, labelled, pool)
