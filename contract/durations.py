"""Durations as people write them: 30s, 15m, 24h, 7d."""

from __future__ import annotations

import re

import click

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


def parse_duration(text: str) -> float:
    match = _PATTERN.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration like 30s, 15m, 24h or 7d")
    return float(match.group(1)) * _UNITS[match.group(2)]


class Duration(click.ParamType[float]):
    name = "duration"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, int | float):
            return float(value)
        try:
            return parse_duration(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)
