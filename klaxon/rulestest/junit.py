"""The JUnit XML report of ``klaxon rules test --junit-xml``, as CI systems read it."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from klaxon.rulestest.runner import CaseResult


def write_junit(path: Path, results: Sequence[CaseResult], broken: Sequence[str]) -> None:
    """One testsuite per test file; a test file that could not run is one errored case."""
    root = ET.Element("testsuites", name="klaxon rules test")
    by_file: dict[str, list[CaseResult]] = {}
    for result in results:
        by_file.setdefault(str(result.file), []).append(result)
    for file, cases in by_file.items():
        suite = ET.SubElement(
            root,
            "testsuite",
            name=file,
            tests=str(len(cases)),
            failures=str(sum(1 for c in cases if c.diff)),
            errors=str(sum(1 for c in cases if c.error)),
            time=f"{sum(c.seconds for c in cases):.3f}",
        )
        for case in cases:
            element = ET.SubElement(
                suite, "testcase", classname=file, name=case.name, time=f"{case.seconds:.3f}"
            )
            if case.error is not None:
                ET.SubElement(element, "error", message=case.error).text = case.error
            elif case.diff:
                failure = ET.SubElement(element, "failure", message="notifications differ")
                failure.text = "\n".join(case.diff)
    if broken:
        suite = ET.SubElement(root, "testsuite", name="test files", tests=str(len(broken)))
        suite.set("errors", str(len(broken)))
        for problem in broken:
            element = ET.SubElement(suite, "testcase", classname="test files", name=problem)
            ET.SubElement(element, "error", message=problem).text = problem
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
