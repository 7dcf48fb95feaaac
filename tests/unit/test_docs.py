"""The docs a newcomer reads: a short README, pages that stay inside the repository, and a
contract page that names every field of the run JSON's schema and every database table."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _pages() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


def _prose(text: str) -> str:
    """The page without its fenced code blocks (a URL in an example command is not a link)."""
    return re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)


def test_the_readme_is_short_and_its_packages_line_has_chromium():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) < 150
    packages = next(line for line in readme.splitlines() if line.startswith("sudo apt-get install"))
    assert {"mksh", "toybox", "gcc", "libc6-dev", "chromium"} <= set(packages.split())
    assert (
        "pip install -e '.[test,qat]' && .venv/bin/host bench" in readme and ".venv/bin/python -m pytest -q" in readme
    )


def test_every_link_stays_inside_the_repository():
    """No page points outside the project's own files (nor at an http address a reader may not reach)."""
    broken = []
    for page in _pages():
        for target in LINK.findall(_prose(page.read_text())):
            path = target.split("#", 1)[0]
            resolved = (page.parent / path).resolve() if path else page
            if "://" in target or target.startswith("/") or not resolved.is_relative_to(ROOT) or not resolved.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert not broken, broken
    assert not any("shared/" in page.read_text() for page in _pages()), "the design notes are not part of the project"


def test_every_page_is_in_the_site_navigation():
    nav = (ROOT / "mkdocs.yml").read_text()
    assert {p.name for p in DOCS.glob("*.md")} == set(re.findall(r":\s*(\S+\.md)\s*$", nav, flags=re.M))


def _properties(schema: dict, prefix: str = "") -> set[str]:
    names = set()
    for name, spec in schema.get("properties", {}).items():
        names.add(name)
        for option in [spec, *spec.get("anyOf", [])]:
            names |= _properties(option)
            names |= _properties(option.get("items", {}))
    return names


def test_the_contract_page_names_every_field_of_the_schema_and_every_table():
    from host.store.schema import MIGRATIONS, Table

    page = (DOCS / "contract.md").read_text()
    schema = json.loads((DOCS / "run.schema.json").read_text())
    code = " ".join(re.findall(r"`([^`]+)`", _prose(page)))
    missing = sorted(name for name in _properties(schema) if not re.search(rf"(?<![\w-]){name}(?![\w-])", code))
    assert not missing, f"fields in run.schema.json the contract page does not name: {missing}"
    tables = {step.name for _, steps in MIGRATIONS for step in steps if isinstance(step, Table)}
    assert not sorted(t for t in tables if f"| `{t}` |" not in page)
