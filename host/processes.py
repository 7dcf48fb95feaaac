"""Processes of this machine, by pid: whether the controller that recorded something it left on
a device (an agent, an unplugged battery) still runs, so only a dead one's leftovers are undone."""

from __future__ import annotations

import os


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (another user's process counts: it exists, it is just not ours)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
