"""``--recipe FILE.json``: a build made with a LiteRT quantizer recipe of the user's own.

The file is the quantizer's own format (a list of entries that pick ops by regex and say how
each is quantized), so a recipe tuned elsewhere is benched as it is. Its build is named after the
file (``my_recipe.json`` is mode ``my_recipe``) and must not shadow a mode in the table; whether
it needs calibration images is asked of the quantizer. A bad file is refused before any work.
"""

from __future__ import annotations

import re
from pathlib import Path

from host.convert.modes import GROUPS, MODES_BY_NAME, QUANTIZER, QuantMode
from host.errors import InputError

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def recipe_modes(paths: tuple[str, ...]) -> tuple[QuantMode, ...]:
    """One mode per recipe file, in the order given."""
    from host.convert.quantizer_route import read_recipe_file, recipe_needs_calibration

    modes: dict[str, QuantMode] = {}
    for text in paths:
        path = Path(text).expanduser()
        name = path.stem
        if not _NAME.fullmatch(name) or "+" in name:
            raise InputError(
                f"--recipe {path}: its build is named after the file, and {name!r} is not a usable name "
                "(letters, digits, _ . -)"
            )
        if name in MODES_BY_NAME or name in GROUPS or name in modes:
            taken = "a group of modes" if name in GROUPS else "a build"
            raise InputError(
                f"--recipe {path}: its build is named after the file, and {name!r} is already {taken}; rename the file"
            )
        entries = read_recipe_file(path)
        modes[name] = QuantMode(
            name,
            f"the recipe {path.name} (LiteRT quantizer)",
            tool=QUANTIZER,
            recipe_file=str(path.resolve()),
            needs_calibration=recipe_needs_calibration(entries),
            weight_dtype="float32",
        )
    return tuple(modes.values())
