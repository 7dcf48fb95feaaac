"""The gate's verdicts for machines and people: JUnit XML (the CI's test report), Markdown (a pull
request comment) and JSON. Regressions are failures, inconclusive checks are skipped tests with
the reason, so a CI page shows them without failing the job unless ``--inconclusive fail``."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from host.codec import encode
from host.fsio import atomic_write
from host.gate.stats import INCONCLUSIVE, NO_REGRESSION, REGRESSED
from host.gate.verdicts import Finding, Verdicts

ORDER = {REGRESSED: 0, INCONCLUSIVE: 1, NO_REGRESSION: 2}


def ranked(findings: list[Finding]) -> list[Finding]:
    """Regressions first, then undecided checks, then the rest, each in cell order."""
    return sorted(findings, key=lambda f: (ORDER[f.verdict], f.device, f.mode, f.backend, f.check))


def summary(verdicts: Verdicts) -> str:
    cells = len({f.cell for f in verdicts.findings})
    return (
        f"{verdicts.count(REGRESSED)} regressed, {verdicts.count(INCONCLUSIVE)} inconclusive, "
        f"{verdicts.count(NO_REGRESSION)} no regression, in {cells} compared cell(s)"
    )


def junit_xml(verdicts: Verdicts, path: Path, name: str = "quantbench.check") -> None:
    findings = verdicts.findings
    suite = ET.Element(
        "testsuite",
        name=name,
        tests=str(len(findings)),
        failures=str(verdicts.count(REGRESSED)),
        skipped=str(verdicts.count(INCONCLUSIVE)),
    )
    for f in findings:
        case = ET.SubElement(suite, "testcase", classname=f"{name}.{f.device}.{f.mode}.{f.backend}", name=f.check)
        if f.verdict == REGRESSED:
            ET.SubElement(case, "failure", message=f"{f.check} regressed: {f.baseline} -> {f.current}").text = f.detail
        elif f.verdict == INCONCLUSIVE:
            ET.SubElement(case, "skipped", message=f"{f.check} inconclusive: {f.detail}")
        else:
            ET.SubElement(case, "system-out").text = f"{f.baseline} -> {f.current} {f.detail}".strip()
    if verdicts.warnings:
        ET.SubElement(suite, "system-err").text = "\n".join(verdicts.warnings)
    atomic_write(path, ET.tostring(suite, encoding="utf-8", xml_declaration=True))


def _cell_text(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(verdicts: Verdicts) -> str:
    icon = {
        REGRESSED: ":x: regressed",
        INCONCLUSIVE: ":grey_question: inconclusive",
        NO_REGRESSION: ":white_check_mark: ok",
    }
    lines = [f"### {verdicts.current} against baseline {verdicts.baseline}", "", summary(verdicts), ""]
    lines += [
        "| device | mode | backend | check | baseline | current | verdict | detail |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for f in ranked(verdicts.findings):
        row = (f.device, f.mode, f.backend, f.check, f.baseline, f.current, icon[f.verdict], f.detail)
        lines.append("| " + " | ".join(_cell_text(v) for v in row) + " |")
    lines += [""] + [f"> warning: {w}" for w in verdicts.warnings]
    return "\n".join(lines).rstrip() + "\n"


def as_json(verdicts: Verdicts) -> dict[str, object]:
    return {
        "baseline": verdicts.baseline,
        "current": verdicts.current,
        "warnings": list(verdicts.warnings),
        "counts": {v: verdicts.count(v) for v in ORDER},
        "findings": [
            {
                "device": f.device,
                "mode": f.mode,
                "backend": f.backend,
                "check": f.check,
                "verdict": f.verdict,
                "baseline": f.baseline,
                "current": f.current,
                "detail": f.detail,
                **(encode(f.decision) if f.decision else {}),
            }
            for f in ranked(verdicts.findings)
        ],
    }


def write_outputs(verdicts: Verdicts, junit: str | None, markdown_path: str | None, json_path: str | None) -> list[str]:
    """Write the files asked for; the paths written, for the user."""
    written = []
    if junit:
        junit_xml(verdicts, Path(junit))
        written.append(f"junit: {junit}")
    if markdown_path:
        atomic_write(Path(markdown_path), markdown(verdicts))
        written.append(f"markdown: {markdown_path}")
    if json_path:
        atomic_write(Path(json_path), json.dumps(as_json(verdicts), indent=2) + "\n")
        written.append(f"json: {json_path}")
    return written
