"""What kind of phone the emulated device imitates: its installed apps and the shell's Python.

``stock``           a stock, unrooted phone: no Python for the shell user, no Termux.
``termux-release``  Termux from F-Droid or Google Play: installed, not debuggable, so ``run-as``
                    refuses it; the user starts the agent inside the app (``attach``).
``termux``          Termux from its GitHub releases: debuggable, so ``run-as com.termux`` works
                    (the ``termux-run-as`` launcher; packages come with ``host provision``).
``shell-python``    a rooted or custom build with a Python the shell user can run (``shell``).
"""

from __future__ import annotations

from dataclasses import dataclass

from emulated_device.errors import UnknownProfile

TERMUX = "com.termux"
SYSTEM_PACKAGES = ("android", "com.android.shell", "com.android.settings", "com.android.systemui", "com.android.phone")


@dataclass(frozen=True)
class App:
    package: str
    uid: int
    debuggable: bool
    version: str


@dataclass(frozen=True)
class Profile:
    name: str
    summary: str
    apps: tuple[App, ...] = ()
    shell_python: bool = False

    def app(self, package: str) -> App | None:
        return next((a for a in self.apps if a.package == package), None)


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile("stock", "a stock, unrooted phone: no Python for the shell user, no Termux"),
        Profile(
            "termux-release",
            "Termux from F-Droid or Play: not debuggable (run-as refuses it); start the agent inside the app",
            (App(TERMUX, 10123, False, "0.118.1"),),
        ),
        Profile(
            "termux",
            "Termux from its GitHub releases: debuggable, reached with run-as com.termux",
            (App(TERMUX, 10123, True, "0.118.1+github-debug"),),
        ),
        Profile("shell-python", "a rooted or custom build: a Python 3 the shell user can run", shell_python=True),
    )
}
DEFAULT_PROFILE = "termux"


def profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise UnknownProfile(f"unknown emulated-device profile {name!r}: choose from {', '.join(PROFILES)}") from None
