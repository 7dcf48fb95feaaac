"""The shape of the code, checked: package layering, function size, who imports what.

Read from the source with ``ast`` (lazy imports inside functions count too), so nothing here
imports the packages it checks.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_FUNCTION_LINES = 50


def _modules(*folders: str) -> list[Path]:
    return [p for folder in folders for p in (ROOT / folder).rglob("*.py") if "_protos" not in p.parts]


def _imports(path: Path, *, taken: bool = True) -> set[str]:
    """The modules ``path`` imports, and (``taken``) each name taken from one as ``module.name``."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            if taken:
                names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def _package(name: str) -> str:
    """host.devices.select -> host.devices; host.cli -> host.cli (a top-level module)."""
    parts = name.split(".")
    if len(parts) >= 2 and (ROOT / parts[0] / parts[1]).is_dir():
        return ".".join(parts[:2])
    return ".".join(parts[:2]) if len(parts) >= 2 and (ROOT / parts[0] / f"{parts[1]}.py").is_file() else parts[0]


def test_no_import_cycle_between_the_packages_of_host():
    graph: dict[str, set[str]] = {}
    for path in _modules("host"):
        source = _package(".".join(path.relative_to(ROOT).with_suffix("").parts))
        targets = {_package(n) for n in _imports(path) if n.startswith("host.")}
        graph.setdefault(source, set()).update(t for t in targets if t != source and t != "host")
    cycles = []

    def visit(node: str, trail: list[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt in trail:
                cycles.append(" -> ".join(trail[trail.index(nxt) :] + [nxt]))
            elif len(trail) < 12:
                visit(nxt, [*trail, nxt])

    for start in sorted(graph):
        visit(start, [start])
    assert not cycles, "import cycles between host packages:\n" + "\n".join(sorted(set(cycles)))


def test_no_function_over_the_size_limit():
    long = []
    for path in _modules("host", "device_agent", "emulated_device"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({length} lines)")
    assert not long, "split these functions:\n" + "\n".join(long)


def test_tools_import_nothing_from_tests():
    offenders = [str(p.relative_to(ROOT)) for p in _modules("tools") if any(n.startswith("tests") for n in _imports(p))]
    assert not offenders


def test_only_the_device_transport_imports_adbutils():
    offenders = [
        str(p.relative_to(ROOT))
        for p in _modules("host", "device_agent")
        if any(n.startswith("adbutils") for n in _imports(p)) and "transport" not in p.parts
    ]
    assert not offenders


# each layer of host/devices and the layers it may import (design: transport at the floor, the agent connection on top)
DEVICE_LAYERS = {
    "transport": set(),
    "energy": {"transport"},
    "selection": {"transport"},
    "launch": {"transport", "energy"},
    "state": {"transport", "launch"},
    "agent": {"transport", "launch", "state", "energy"},
    "options": {"transport", "selection"},
}


def test_the_device_layers_import_only_downwards():
    found = {p.parent.name if p.parent.name != "devices" else p.stem for p in (ROOT / "host" / "devices").rglob("*.py")}
    assert found - {"__init__"} == set(DEVICE_LAYERS), "every module of host/devices belongs to a declared layer"
    offenders = []
    for path in (ROOT / "host" / "devices").rglob("*.py"):
        layer = path.parent.name if path.parent.name != "devices" else path.stem
        for name in _imports(path):
            parts = name.split(".")
            if (
                parts[:2] == ["host", "devices"]
                and len(parts) > 2
                and parts[2] != layer
                and parts[2] not in DEVICE_LAYERS[layer]
            ):
                offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not offenders, "\n".join(offenders)


def test_the_agent_imports_nothing_from_the_host():
    offenders = [
        str(p.relative_to(ROOT)) for p in _modules("device_agent") if any(n.startswith("host") for n in _imports(p))
    ]
    assert not offenders, "the agent runs on the phone with numpy, grpcio, protobuf and a TFLite runtime only"


def test_the_contract_page_lists_every_exit_code():
    from host.errors import ExitCode

    page = (ROOT / "docs" / "contract.md").read_text()
    table = dict(re.findall(r"^\| (\d+) \| (.+?) \|$", page, flags=re.M))
    assert sorted(int(code) for code in table) == sorted(int(code) for code in ExitCode)


def test_the_cli_parses_and_maps_errors_and_each_command_is_its_own_module():
    allowed = {
        "host",
        "host.commands",
        "host.commands.spec",
        "host.errors",
        "host.params",
        "host.devices.transport.adb",
    }  # the adb servers a command started are stopped at the boundary
    cli = {n for n in _imports(ROOT / "host" / "cli.py", taken=False) if n.startswith("host")}
    assert cli <= allowed, sorted(cli - allowed)
    for path in (ROOT / "host" / "commands").glob("*.py"):
        others = {
            n
            for n in _imports(path, taken=False)
            if n.startswith("host.commands.") and n.split(".")[2] not in ("spec", path.stem)
        }
        assert not others, f"{path.name} imports another command's module: {sorted(others)}"


def test_the_library_commands_share_public_parts_not_each_others_internals():
    """compare runs its rounds through the same runner factory, sink and interrupt policy as bench."""
    for path in _modules("host"):
        for name in _imports(path):
            parts = name.split(".")
            assert not (len(parts) == 4 and parts[:3] == ["host", "bench", "run"] and parts[3].startswith("_")), (
                path,
                name,
            )
    assert not {n for n in _imports(ROOT / "host" / "bench" / "compare.py") if n.startswith("host.bench.run")}


def test_no_module_takes_another_modules_private_names():
    """A name with a leading underscore is its module's own; a second module that needs it needs a public home for
    it."""
    offenders = []
    for path in _modules("host", "device_agent"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(("host", "device_agent")):
                offenders += [
                    f"{path.relative_to(ROOT)}: {node.module}.{a.name}"
                    for a in node.names
                    if a.name.startswith("_") and not a.name.startswith("__")
                ]
    assert not offenders, "\n".join(offenders)


def test_no_import_cycle_between_modules():
    """Module by module, imports under TYPE_CHECKING and inside functions included: one import
    cycle hides in a package-level check (convert/converter <-> training <-> variants did)."""
    from tools.shape_metrics import measure

    assert measure(ROOT)["module_cycles"] == []


def test_the_emulated_device_is_a_package_of_its_own():
    """A test double for a phone: it imports nothing of the product, and the host reaches it only
    where it starts one (host/emulator/)."""
    into_host = [
        str(p.relative_to(ROOT)) for p in _modules("emulated_device") if any(n.startswith("host") for n in _imports(p))
    ]
    assert not into_host
    from_host = [
        str(p.relative_to(ROOT))
        for p in _modules("host")
        if "emulator" not in p.parts and any(n.startswith("emulated_device") for n in _imports(p))
    ]
    assert not from_host, "the host starts the emulated device through host/emulator only"


def test_the_agent_is_in_sub_packages_by_concern():
    """device_agent/ keeps at its top only what both sides share (the contract, the wire, the
    errors) and its entry points; the rest lives by concern."""
    top = {p.stem for p in (ROOT / "device_agent").glob("*.py")}
    assert top == {"__init__", "__main__", "contract", "errors", "wire", "zipapp"}, sorted(top)
    assert {p.name for p in (ROOT / "device_agent").iterdir() if p.is_dir() and not p.name.startswith("_")} == {
        "engines",
        "measuring",
        "serving",
        "storage",
    }
