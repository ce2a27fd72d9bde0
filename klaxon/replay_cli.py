"""``klaxon replay``: what a rules file would have sent for what really is in Kafka."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from contract.settings import Settings


@click.command()
@click.option("--topic", required=True, help="The topic to replay.")
@click.option(
    "--from",
    "start",
    required=True,
    help="Start: an offset (every partition), a time (2026-01-01T08:00:00Z) or an age (2h).",
)
@click.option("--to", "stop", default=None, help="Stop before this offset or time (default: now).")
@click.option(
    "--rules",
    "rules_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The rules to evaluate (default: RULES_CONFIG_PATH).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def replay(
    topic: str, start: str, stop: str | None, rules_path: Path | None, as_json: bool
) -> None:
    """Backtest rules on a topic: per rule, matches, notifications, samples and alerts.

    Partitions are assigned directly (no consumer group is joined or committed), state is
    simulated in-process in event time, and nothing is enqueued.
    """
    import logging

    import orjson

    from klaxon.cli import _load_or_exit
    from klaxon.rulestest.replay import Bound, ReplayError, ReplayReport, parse_bound
    from klaxon.rulestest.replay import replay as run_replay

    logging.basicConfig(level=logging.ERROR)
    settings = Settings.from_env()
    config = _load_or_exit(rules_path or settings.rules_config_path, settings)

    def progress(events: int, seconds: float, position: dict[int, int]) -> None:
        rate = events / seconds if seconds > 0 else 0.0
        where = " ".join(f"{p}@{o}" for p, o in sorted(position.items()))
        click.echo(f"replay: {events} events, {rate:.0f} events/s, at {where}", err=True)

    try:
        now = time.time()
        report: ReplayReport = run_replay(
            config,
            settings,
            topic,
            parse_bound(start, "--from", now),
            parse_bound(stop, "--to", now) if stop is not None else Bound(at_ms=int(now * 1000)),
            progress,
        )
    except ReplayError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    for note in report.notes:
        click.echo(f"note: {note}", err=True)
    if as_json:
        click.echo(orjson.dumps(report.to_json(), option=orjson.OPT_INDENT_2).decode())
        return
    spans = ", ".join(f"{p}: {a}..{b - 1}" for p, (a, b) in sorted(report.ranges.items()))
    click.echo(
        f"{report.events} event(s) on {topic} ({spans or 'nothing to replay'}), "
        f"{report.rejected} rejected"
    )
    for rule in report.rules:
        channels = ", ".join(f"{c} {n}" for c, n in sorted(rule.channels.items())) or "none"
        click.echo(
            f"rule {rule.rule_id}: {rule.matches} match(es); notifications: {channels}; "
            f"alerts fired {rule.fired}, resolved {rule.resolved}"
        )
        for sample in rule.samples:
            lines = sample.splitlines()
            click.echo(f"    {lines[0]}" + (" …" if len(lines) > 1 else ""))
