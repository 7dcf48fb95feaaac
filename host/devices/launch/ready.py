"""The check that the agent's modules import under a launcher's Python, and what it remembers.

Importing numpy, grpc, protobuf and the TFLite runtime takes a phone's Python most of a second
(0.43 s on the emulated device), and every bench asked it again. The check now leaves its answer
on the device beside a stamp of what it imported: that Python (its path, version and module
path) and each package's folder and ``__init__`` (inode, size, mtime). ``pkg``, ``pip`` and
``apt`` all replace or remove those when they install, upgrade or remove a package, so a stamp
that still matches means the same files. The stamp is read without importing any of them.

A library damaged in place without touching its folder is not seen by the remembered answer;
the agent then fails at its start, with the loader's message and the advice to run ``host
doctor``, which always imports for real and keeps what it found; so does the check after
provisioning.
"""

from __future__ import annotations

MODULES = ("numpy", "grpc", "google.protobuf")
RUNTIMES = ("ai_edge_litert.interpreter", "tflite_runtime.interpreter", "tensorflow.lite.python.interpreter")
PYTHON_LINE = "PYTHON 3"  # printed first: the Python runs and is a Python 3
KEPT_LINE = "KEPT"  # printed before the answer when it is the one kept on the device

_SCRIPT = """
import importlib, importlib.util, json, os, sys
print("PYTHON %d" % sys.version_info[0], flush=True)
REMEMBER, TRUST_KEPT = {remember!r}, {trust_kept!r}
def stamp():
    parts = [sys.executable, sys.version, os.pathsep.join(sys.path)]
    for name in {packages!r}:
        try:
            spec = importlib.util.find_spec(name)
        except Exception:
            spec = None
        origin = (spec.origin or "") if spec else ""
        for path in (origin, os.path.dirname(origin)) if origin else ():
            try:
                st = os.stat(path)
                parts.append("%s %d %d %d" % (path, st.st_ino, st.st_size, st.st_mtime_ns))
            except OSError:
                parts.append(path + " gone")
        parts.append(name + (" found" if spec else " missing"))
    return "\\n".join(parts)
key = stamp()
try:
    kept = json.load(open(REMEMBER)) if TRUST_KEPT else {{}}
except Exception:
    kept = {{}}
if kept.get("stamp") == key and str(kept.get("said", "")).startswith("READY "):
    print("KEPT")
    print(kept["said"])
    sys.exit(0)
missing = []
for name in {modules!r}:
    try:
        importlib.import_module(name)
    except Exception:
        missing.append(name)
runtimes = []
for name in {runtimes!r}:
    try:
        importlib.import_module(name)
        runtimes.append(name.split(".")[0])
        break
    except Exception:
        pass
lacking = missing + ([] if runtimes else ["a TFLite runtime"])
said = "READY " + runtimes[0] if not missing and runtimes else "MISSING " + ", ".join(lacking)
try:
    os.makedirs(os.path.dirname(REMEMBER), exist_ok=True)
    with open(REMEMBER + ".tmp", "w") as out:
        json.dump({{"stamp": key, "said": said}}, out)
    os.replace(REMEMBER + ".tmp", REMEMBER)
except OSError:
    pass
print(said)
"""


def ready_probe(remember: str, trust_kept: bool = True) -> str:
    """The check as a ``python -c`` script. Its answer is kept in ``remember`` (a file on the
    device), and one kept before is given again while its stamp matches, unless not
    ``trust_kept`` (doctor and provisioning: they import for real and keep what they found)."""
    packages = MODULES + tuple(runtime.split(".")[0] for runtime in RUNTIMES)  # found, never imported
    return _SCRIPT.format(
        remember=remember, trust_kept=trust_kept, packages=packages, modules=MODULES, runtimes=RUNTIMES
    )
