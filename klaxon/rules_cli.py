"""``klaxon rules test``: unit tests for rules, with no broker and no Redis."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from contract.settings import Settings


@click.group()
def rules() -> None:
    """Work with rules files: test them before they page anyone."""


def test_files(paths: tuple[Path, ...]) -> list[Path]:
    """The test files named, a directory standing for the *.yaml and *.yml files directly in
    it (the rules files they use can live in a subdirectory)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml"))
        else:
            found.append(path)
    return found


@rules.command("test")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--junit-xml",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write a JUnit XML report here, for CI.",
)
def test(paths: tuple[Path, ...], junit_xml: Path | None) -> None:
    """Run rule test files (or directories of them); exit 1 if any case fails.

    Each case runs the bridge's own pipeline on an in-process Redis and a simulated clock:
    see docs/rules-testing.md for the file format.
    """
    from klaxon.rulestest.junit import write_junit
    from klaxon.rulestest.runner import CaseResult, run_file
    from klaxon.rulestest.testfile import TestFileError, load_test_file

    # The pipeline logs what it does (a no-data alert raised, a storm); the report says it.
    logging.basicConfig(level=logging.ERROR)
    settings = Settings.from_env()
    results: list[CaseResult] = []
    broken: list[str] = []
    files = test_files(paths)
    if not files:
        click.echo(f"error: no test files in {', '.join(map(str, paths))}", err=True)
        sys.exit(1)
    for path in files:
        try:
            found = run_file(load_test_file(path, settings.kafka_topic), settings)
        except TestFileError as exc:
            broken.append(str(exc))
            click.echo(f"ERROR {exc}")
            continue
        for result in found:
            results.append(result)
            if result.error is not None:
                click.echo(f"ERROR {result.error}")
            elif result.diff:
                click.echo(f"FAIL  {result.file} :: {result.name}")
                for line in result.diff:
                    click.echo(f"      {line}")
            else:
                click.echo(f"ok    {result.file} :: {result.name} ({len(result.sent)} sent)")
    failed = sum(1 for r in results if not r.passed) + len(broken)
    passed = len(results) - sum(1 for r in results if not r.passed)
    click.echo(f"{passed} passed, {failed} failed")
    if junit_xml is not None:
        write_junit(junit_xml, results, broken)
    sys.exit(1 if failed else 0)
