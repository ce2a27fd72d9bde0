"""Rules compiled by the real loader from small YAML-shaped snippets, for core unit tests."""

from __future__ import annotations

from typing import Any

import yaml

from contract.problems import ProblemSink
from rules.kinds import AnyRule
from rules.loader import ChannelDirectory, load_rules

# Every channel registered and configured: a snippet may notify any of them.
ALL_CHANNELS = ChannelDirectory(
    known={"email": True, "slack": False, "sms": True, "webhook": False},
    configured={"email": True, "slack": True, "sms": True, "webhook": True},
)


def compile_rules(*items: dict[str, Any], default_topic: str = "plates") -> tuple[AnyRule, ...]:
    """The rules of ``items`` (one mapping per rule, as under ``rules:``); no errors allowed."""
    sink = ProblemSink("test.yaml")
    # Through YAML, so the loader sees exactly what it would read from a file.
    data = yaml.safe_load(yaml.safe_dump(list(items)))
    rules = load_rules(data, sink, ALL_CHANNELS, default_topic)
    assert [str(p) for p in sink.errors] == []
    return rules
