"""Time intervals: wall-clock periods in a zone, across midnight, DST and month ends."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from contract.problems import ProblemSink
from rules.config import check_config
from rules.time_intervals import TimeInterval, load_time_intervals


def interval(**period: Any) -> TimeInterval:
    sink = ProblemSink("rules.yaml")
    loaded = load_time_intervals([{"name": "x", "time_intervals": [period]}], sink)
    assert sink.problems == []
    return loaded["x"]


def at(text: str, zone: str = "UTC") -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).timestamp()


NIGHT = {
    "times": [
        {"start_time": "22:00", "end_time": "24:00"},
        {"start_time": "00:00", "end_time": "06:00"},
    ]
}
SUNDAY_2AM = {
    "weekdays": ["sunday"],
    "times": [{"start_time": "02:00", "end_time": "03:00"}],
    "location": "Europe/London",
}
LONDON_1AM = {"times": [{"start_time": "01:00", "end_time": "02:00"}], "location": "Europe/London"}


@pytest.mark.parametrize(
    ("period", "moment", "inside"),
    [
        # midnight: two ranges make a night shift; 24:00 ends a day, 00:00 starts the next
        (NIGHT, at("2026-03-02T21:59:59"), False),
        (NIGHT, at("2026-03-02T22:00:00"), True),
        (NIGHT, at("2026-03-02T23:59:59"), True),
        (NIGHT, at("2026-03-03T00:00:00"), True),
        (NIGHT, at("2026-03-03T05:59:00"), True),
        (NIGHT, at("2026-03-03T06:00:00"), False),  # the end is exclusive
        # a weekday and a time in the interval's own zone, not UTC
        (SUNDAY_2AM, at("2026-07-05T02:30", "Europe/London"), True),
        (SUNDAY_2AM, at("2026-07-05T02:30"), False),  # 03:30 in London (BST)
        (SUNDAY_2AM, at("2026-07-06T02:30", "Europe/London"), False),  # a Monday
        # DST: London skips 01:00-02:00 on 2026-03-29 and repeats it on 2026-10-25
        (LONDON_1AM, at("2026-03-29T00:59:59"), False),
        (LONDON_1AM, at("2026-03-29T01:00:00"), False),  # 02:00 BST: the hour never was
        (LONDON_1AM, at("2026-03-28T01:30:00"), True),  # the day before, GMT
        (LONDON_1AM, at("2026-10-25T00:30:00"), True),  # 01:30 BST, first time
        (LONDON_1AM, at("2026-10-25T01:30:00"), True),  # 01:30 GMT, again
        (LONDON_1AM, at("2026-10-25T02:30:00"), False),
        # negative days of month count from the month's end
        ({"days_of_month": ["-1"]}, at("2026-02-28T12:00"), True),
        ({"days_of_month": ["-1"]}, at("2028-02-28T12:00"), False),  # a leap year
        ({"days_of_month": ["-1"]}, at("2028-02-29T12:00"), True),
        ({"days_of_month": ["-3:-1"]}, at("2026-04-28T12:00"), True),
        ({"days_of_month": ["-3:-1"]}, at("2026-04-27T12:00"), False),
        ({"days_of_month": ["1:5"]}, at("2026-04-05T23:59"), True),
        ({"days_of_month": [1, "10:-1"]}, at("2026-04-09T00:00"), False),
        # ranges of weekdays, months and years
        ({"weekdays": ["monday:friday"]}, at("2026-03-06T12:00"), True),  # Friday
        ({"weekdays": ["monday:friday"]}, at("2026-03-07T12:00"), False),  # Saturday
        ({"months": ["december:december", "1:2"]}, at("2026-01-15T00:00"), True),
        ({"months": ["march"]}, at("2026-04-01T00:00"), False),
        ({"years": ["2026:2027"]}, at("2027-12-31T23:59"), True),
        ({"years": ["2026:2027"]}, at("2028-01-01T00:00"), False),
    ],
)
def test_a_moment_is_inside_an_interval_on_its_wall_clock(
    period: dict[str, Any], moment: float, inside: bool
) -> None:
    """Each field is read on the wall clock of the interval's location."""
    assert interval(**period).contains(moment) is inside


def rules_file(write_config: Callable[..., Path], **rule: Any) -> Path:
    base = {
        "id": "tank_temperature_high",
        "conditions": [{"field": "temperature", "operator": "greater_than", "value": 30}],
        "notify": ["webhook"],
        "message_template": "hot",
    }
    intervals = [
        {"name": "weekly_maintenance", "time_intervals": [{"weekdays": ["sunday"]}]},
        {
            "name": "broken",
            "time_intervals": [
                {
                    "times": [{"start_time": "23:00", "end_time": "01:00"}],
                    "weekdays": ["funday"],
                    "location": "Mars/Olympus",
                }
            ],
        },
    ]
    return write_config(
        {"webhook": {"url": "http://127.0.0.1:9/x"}}, [{**base, **rule}], time_intervals=intervals
    )


def test_validation_names_file_rule_and_field(write_config: Callable[..., Path]) -> None:
    """An unknown interval, a bad time range, an unknown zone: each with its place."""
    path = rules_file(write_config, mute_time_intervals=["weekly_maintenace"], catch_up="yes")
    config, problems = check_config(path)
    assert config is None
    shown = {str(p) for p in problems if not p.warning}
    assert (
        f'{path}: rule "tank_temperature_high": rules[0].mute_time_intervals[0]: unknown time '
        'interval "weekly_maintenace" (did you mean "weekly_maintenance"?) '
        "(define it under time_intervals)"
    ) in shown
    assert (
        f'{path}: rule "tank_temperature_high": rules[0].catch_up: '
        "expected true or false, got 'yes'"
    ) in shown
    assert (
        f"{path}: time_intervals[1].time_intervals[0].times[0]: bad time range 23:00-01:00: "
        "start_time must be before end_time (a range never crosses midnight: write two ranges)"
    ) in shown
    assert (
        f'{path}: time_intervals[1].time_intervals[0].location: unknown time zone "Mars/Olympus" '
        "(use an IANA name, e.g. Europe/London)"
    ) in shown
    assert any("weekdays[0]: expected a weekday" in s for s in shown)


def test_unquoted_times_and_ranges_read_as_base_60_get_a_hint(tmp_path: Path) -> None:
    """YAML reads 22:00 as 1320 and 1:5 as 65: the error says to quote them."""
    path = tmp_path / "rules.yaml"
    path.write_text(
        "notifications: {webhook: {url: 'http://127.0.0.1:9/x'}}\n"
        "time_intervals:\n"
        "  - name: night\n"
        "    time_intervals:\n"
        "      - times: [{start_time: 22:00, end_time: '24:00'}]\n"
        "        days_of_month: [1:5]\n"
        "rules: []\n"
    )
    _, problems = check_config(path)
    shown = {f"{p.field}: {p.message}" for p in problems if not p.warning}
    where = "time_intervals[0].time_intervals[0]"
    assert shown == {
        f'{where}.times[0].start_time: expected a time "HH:MM" (YAML reads an unquoted 22:00 '
        'as 1320: quote it, "22:00")',
        f"{where}.days_of_month[0]: expected a day 1..31 or -31..-1, or a range like 1:5 or "
        '-3:-1, got 65 (YAML reads an unquoted 1:05 as 65: quote it, "1:05")',
    }


def test_resolve_when_silenced_is_only_for_stateful_rules(
    write_config: Callable[..., Path],
) -> None:
    """A stateless rule has no resolve to send: the field is refused, naming it."""
    path = rules_file(write_config, resolve_when_silenced=True)
    _, problems = check_config(path)
    assert any(
        p.field == "rules[0].resolve_when_silenced" and p.rule_id == "tank_temperature_high"
        for p in problems
        if not p.warning
    )
