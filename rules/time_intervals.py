"""The ``time_intervals:`` section: named schedules, as Alertmanager writes them.

```yaml
time_intervals:
  - name: weekly_maintenance
    time_intervals:
      - weekdays: [sunday]
        times: [{start_time: "01:00", end_time: "03:00"}]
        location: Europe/London
```

A named interval holds a list of periods; a moment is in it when it is in any of them. A
period is the intersection of what it sets: ``times`` (start inclusive, end exclusive,
"24:00" allowed as an end; a range never crosses midnight: write two), ``weekdays``
(``monday:friday``), ``days_of_month`` (``1:5``, ``-1`` the last day), ``months``
(``january:march`` or ``1:3``) and ``years``, all read on the wall clock of ``location``
(an IANA zone, UTC by default). On a DST change the wall clock is what counts: a range
inside the skipped hour is never met that day, one inside the repeated hour is met twice.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from contract.mapping import MappingReader
from contract.problems import ProblemSink
from rules.operators import show

SECTION = "time_intervals"
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_MONTHS = tuple(name.lower() for name in calendar.month_name[1:])
_TIME = re.compile(r"\A([0-9]{2}):([0-9]{2})\Z")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")

Range = tuple[int, int]  # inclusive on both ends, except times: [start, end) minutes


@dataclass(frozen=True)
class Period:
    """One entry of a named interval; an empty tuple means "any"."""

    times: tuple[Range, ...] = ()
    weekdays: tuple[Range, ...] = ()  # 0 = Monday
    days_of_month: tuple[Range, ...] = ()  # 1..31, or negative from the month's end
    months: tuple[Range, ...] = ()  # 1..12
    years: tuple[Range, ...] = ()
    location: dt.tzinfo = dt.UTC

    def contains(self, moment: float) -> bool:
        local = dt.datetime.fromtimestamp(moment, self.location)
        minute = local.hour * 60 + local.minute
        if self.times and not any(start <= minute < end for start, end in self.times):
            return False
        if self.weekdays and not _within(local.weekday(), self.weekdays):
            return False
        if self.days_of_month and not self._day_of_month(local):
            return False
        if self.months and not _within(local.month, self.months):
            return False
        return not self.years or _within(local.year, self.years)

    def _day_of_month(self, local: dt.datetime) -> bool:
        last = calendar.monthrange(local.year, local.month)[1]
        for start, end in self.days_of_month:
            # A negative day counts from the end: -1 is the last day of this month.
            low = start if start > 0 else last + 1 + start
            high = end if end > 0 else last + 1 + end
            if low <= local.day <= high:
                return True
        return False


def _within(value: int, ranges: tuple[Range, ...]) -> bool:
    return any(start <= value <= end for start, end in ranges)


@dataclass(frozen=True)
class TimeInterval:
    name: str
    periods: tuple[Period, ...]

    def contains(self, moment: float) -> bool:
        return any(period.contains(moment) for period in self.periods)


def load_time_intervals(items: object, sink: ProblemSink) -> dict[str, TimeInterval]:
    """The named intervals of the section; every problem goes to ``sink`` with its field."""
    if items is None:
        return {}
    if not isinstance(items, list):
        sink.error(SECTION, f"expected a list of named time intervals, got {show(items)}")
        return {}
    result: dict[str, TimeInterval] = {}
    for index, item in enumerate(items):
        where = f"{SECTION}[{index}]"
        if not isinstance(item, dict):
            sink.error(where, f"expected a mapping with name and time_intervals, got {show(item)}")
            continue
        reader = MappingReader(item, where, sink)
        name = reader.required("name", str, "")
        if reader.has("name") and isinstance(reader.raw("name"), str) and not _NAME.match(name):
            reader.error("name", f'invalid interval name "{name}": use letters, digits, _ . -')
            name = ""
        elif name in result:
            reader.error("name", f'duplicate time interval "{name}"')
            name = ""
        periods: list[Period] = []
        for position, raw in enumerate(reader.required("time_intervals", list, [])):
            period_where = reader.field_path(f"time_intervals[{position}]")
            if not isinstance(raw, dict):
                sink.error(period_where, f"expected a mapping, got {show(raw)}")
                continue
            period = _period(MappingReader(raw, period_where, sink))
            if period is not None:
                periods.append(period)
        reader.finish()
        if name:
            result[name] = TimeInterval(name, tuple(periods))
    return result


def _period(reader: MappingReader) -> Period | None:
    before = len(reader.sink.errors)
    location: dt.tzinfo = dt.UTC
    zone = reader.optional("location", str, "")
    if zone:
        try:
            location = ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            reader.error(
                "location", f'unknown time zone "{zone}" (use an IANA name, e.g. Europe/London)'
            )
    period = Period(
        times=_times(reader),
        weekdays=_ranges(reader, "weekdays", _weekday),
        days_of_month=_ranges(reader, "days_of_month", _day_of_month),
        months=_ranges(reader, "months", _month),
        years=_ranges(reader, "years", _year),
        location=location,
    )
    reader.finish()
    return period if len(reader.sink.errors) == before else None


def _times(reader: MappingReader) -> tuple[Range, ...]:
    ranges: list[Range] = []
    for position, raw in enumerate(reader.optional("times", list, [])):
        key = f"times[{position}]"
        if not isinstance(raw, dict):
            reader.error(key, f"expected {{start_time, end_time}}, got {show(raw)}")
            continue
        span = MappingReader(raw, reader.field_path(key), reader.sink)
        start = _minute(span, "start_time")
        end = _minute(span, "end_time")
        span.finish()
        if start is None or end is None:
            continue
        if start >= end:
            reader.error(
                key,
                f"bad time range {raw.get('start_time')}-{raw.get('end_time')}: start_time must "
                "be before end_time (a range never crosses midnight: write two ranges)",
            )
            continue
        ranges.append((start, end))
    return tuple(ranges)


def _unquoted(raw: object) -> str:
    """A hint when YAML 1.1 read an unquoted ``22:00`` or ``1:5`` as base 60 (1320, 65)."""
    if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 60:
        hours, minutes = divmod(raw, 60)
        text = f"{hours}:{minutes:02d}"
        return f' (YAML reads an unquoted {text} as {raw}: quote it, "{text}")'
    return ""


def _minute(reader: MappingReader, key: str) -> int | None:
    if hint := _unquoted(reader.raw(key)):
        reader.error(key, f'expected a time "HH:MM"{hint}')
        return None
    text = reader.required(key, str, "")
    found = _TIME.match(text)
    minute = int(found.group(1)) * 60 + int(found.group(2)) if found else -1
    if not found or int(found.group(2)) > 59 or not 0 <= minute <= 24 * 60:
        if reader.has(key) and isinstance(reader.raw(key), str):
            reader.error(key, f'expected a time "HH:MM" from 00:00 to 24:00, got {show(text)}')
        return None
    return minute


def _ranges(reader: MappingReader, key: str, one: Callable[[str], int | None]) -> tuple[Range, ...]:
    ranges: list[Range] = []
    for position, raw in enumerate(reader.optional(key, list, [])):
        text = str(raw).strip().lower()
        parts = text.split(":", 1) if ":" in text[1:] else [text, text]
        low, high = one(parts[0].strip()), one(parts[1].strip())
        if low is None or high is None:
            reader.error(f"{key}[{position}]", f"{_EXPECTED[key]}, got {show(raw)}{_unquoted(raw)}")
            continue
        if (low > high and (low > 0) == (high > 0)) or (low < 0 < high and key == "days_of_month"):
            reader.error(f"{key}[{position}]", f"bad range {show(raw)}: the start is after the end")
            continue
        ranges.append((low, high))
    return tuple(ranges)


def _weekday(text: str) -> int | None:
    return WEEKDAYS.index(text) if text in WEEKDAYS else None


def _month(text: str) -> int | None:
    if text in _MONTHS:
        return _MONTHS.index(text) + 1
    return int(text) if text.isdigit() and 1 <= int(text) <= 12 else None


def _day_of_month(text: str) -> int | None:
    try:
        day = int(text)
    except ValueError:
        return None
    return day if 1 <= abs(day) <= 31 else None


def _year(text: str) -> int | None:
    return int(text) if text.isdigit() and 1 <= int(text) <= 9999 else None


_EXPECTED: Mapping[str, str] = {
    "weekdays": "expected a weekday or a range like monday:friday",
    "days_of_month": "expected a day 1..31 or -31..-1, or a range like 1:5 or -3:-1",
    "months": "expected a month (january or 1) or a range like january:march",
    "years": "expected a year or a range like 2026:2027",
}
