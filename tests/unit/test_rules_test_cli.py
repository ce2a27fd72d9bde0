"""``klaxon rules test``: shipped rule tests, failure diffs, bad input, the JUnit report."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from click.testing import CliRunner, Result

from contract.settings import PROJECT_ROOT
from klaxon.cli import main

RULES = PROJECT_ROOT / "config" / "alert_rules.yaml"


def run(*args: str) -> Result:
    return CliRunner().invoke(main, ["rules", "test", *args])


def write(tmp_path: Path, text: str, name: str = "case.yaml") -> Path:
    path = tmp_path / name
    path.write_text(f"rules: {RULES}\n{text}")
    return path


def test_the_shipped_rule_tests_pass_as_the_test_command_runs_them() -> None:
    """`klaxon rules test tests/rules/` exits 0 with one ok line per case."""
    done = subprocess.run(
        [sys.executable, "-m", "klaxon", "rules", "test", "tests/rules/"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1].endswith("passed, 0 failed")
    assert sum(line.startswith("ok ") for line in lines) >= 15
    assert any("reef_rules.yaml" in line for line in lines)
    assert any("dev.yaml" in line for line in lines)


def test_a_wrong_expectation_fails_with_a_diff_and_exit_1(tmp_path: Path) -> None:
    """A wrong message substring shows the expected line (-) and what was sent (+)."""
    path = write(
        tmp_path,
        """cases:
  - name: wrong plate expected
    events: [{event: {plate: {normalized_text: ABC123}, camera_id: cam-1}}]
    expect:
      - {rule: watchlist_plate, channel: email, message: "Plate: ABC999"}
      - {rule: watchlist_plate, channel: slack}
""",
    )
    result = run(str(path))
    assert result.exit_code == 1
    out = result.output.splitlines()
    assert out[0] == f"FAIL  {path} :: wrong plate expected"
    assert (
        "      - expected, not sent: rule=watchlist_plate channel=email message~'Plate: ABC999'"
        in out
    )
    assert any(
        line.startswith("      + sent, not expected: at 0s rule=watchlist_plate channel=email")
        for line in out
    )
    assert any(line.startswith("        at 0s rule=watchlist_plate channel=slack") for line in out)
    assert out[-1] == "0 passed, 1 failed"


def test_a_notification_that_is_not_expected_fails(tmp_path: Path) -> None:
    """`expect: []` fails when the rule fires, listing what was sent."""
    path = write(
        tmp_path,
        """cases:
  - name: expects silence
    events: [{event: {plate: {normalized_text: XYZ789}}}]
    expect: []
""",
    )
    result = run(str(path))
    assert result.exit_code == 1
    assert result.output.count("+ sent, not expected:") == 2


def test_an_unknown_rule_names_file_case_and_field_with_a_hint(tmp_path: Path) -> None:
    """An expectation naming a rule the file lacks is an error, not a failure to match."""
    path = write(
        tmp_path,
        """cases:
  - name: typo
    events: []
    expect: [{rule: watchlist_plates}]
""",
    )
    result = run(str(path))
    assert result.exit_code == 1
    assert (
        f"ERROR {path}: case 'typo': expect[0].rule: unknown rule 'watchlist_plates' in "
        'alert_rules.yaml (did you mean "watchlist_plate"?)'
    ) in result.output


def test_a_bad_time_offset_names_file_case_and_field(tmp_path: Path) -> None:
    """`at: soon` is refused with the event's index."""
    path = write(
        tmp_path,
        """cases:
  - name: bad time
    events: [{at: 0s, event: {a: 1}}, {at: soon, event: {a: 2}}]
    expect: []
""",
    )
    result = run(str(path))
    assert result.exit_code == 1
    assert f"ERROR {path}: case 'bad time': events[1].at: 'soon' is not a duration" in (
        result.output
    )


def test_an_event_that_does_not_decode_names_file_case_and_field(tmp_path: Path) -> None:
    """An event the bridge would dead-letter stops the case with the decoder's reason."""
    path = write(
        tmp_path,
        """cases:
  - name: garbage
    events: [{event: {a: 1}}, {event: "{not json"}]
    expect: []
""",
    )
    result = run(str(path))
    assert result.exit_code == 1
    assert f"ERROR {path}: case 'garbage': events[1].event: the bridge rejects it:" in (
        result.output
    )


def test_an_unknown_field_in_a_case_is_refused(tmp_path: Path) -> None:
    """A field this version does not know (e.g. silences) is an error, never ignored."""
    path = write(
        tmp_path,
        """cases:
  - name: later
    silences: [{matchers: [rule=watchlist_plate]}]
    events: []
    expect: []
""",
    )
    result = run(str(path))
    assert result.exit_code == 1
    assert f"ERROR {path}: case 'later': silences: unknown field" in result.output


def test_junit_xml_reports_each_case(tmp_path: Path) -> None:
    """--junit-xml writes a testcase per case, with the diff as the failure's text."""
    path = write(
        tmp_path,
        """cases:
  - name: passes
    events: []
    expect: []
  - name: fails
    events: [{event: {plate: {normalized_text: ABC123}}}]
    expect: []
""",
    )
    report = tmp_path / "out" / "junit.xml"
    result = run(str(path), "--junit-xml", str(report))
    assert result.exit_code == 1
    suite = ET.parse(report).getroot().find("testsuite")  # noqa: S314 - our own report
    assert suite is not None
    assert suite.get("tests") == "2"
    assert suite.get("failures") == "1"
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert cases["passes"].find("failure") is None
    failure = cases["fails"].find("failure")
    assert failure is not None
    assert "+ sent, not expected:" in (failure.text or "")
