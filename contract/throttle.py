"""Provider rate limits of a channel: ``throttle: {per_second: 1, burst: 5}``.

A channel may set one limit for all its sends and, for a multi-recipient channel, one per
recipient (``throttle.recipients.<address>``). A channel whose provider has a known limit
has a default (contract.channels: Slack 1/s per webhook URL, Twilio 1/s per from-number);
``throttle: off`` turns it off. The rule's ``rate_limit`` is another thing: its cooldown.

It is read with the config; workers enforce it through Redis (tasks.throttle), so that the
limit holds for all of them together.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from contract.mapping import MappingReader


@dataclass(frozen=True)
class Throttle:
    """At most ``per_second`` sends a second on average, ``burst`` of them back to back."""

    per_second: float
    burst: int = 1

    @property
    def interval(self) -> float:
        """Seconds between two sends at the steady rate."""
        return 1.0 / self.per_second


@dataclass(frozen=True)
class ChannelThrottle:
    """What a channel's sends wait for: its own limit and those of single recipients."""

    limit: Throttle | None = None
    recipients: Mapping[str, Throttle] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.limit is not None or bool(self.recipients)


OFF = ChannelThrottle()


def parse_limit(reader: MappingReader) -> Throttle | None:
    """Read ``per_second`` and ``burst`` of one limit; None if there is a problem."""
    per_second = reader.required("per_second", float, 0.0)
    burst = reader.optional("burst", int, 1)
    ok = True
    if per_second <= 0 and reader.has("per_second"):
        reader.error("per_second", f"must be positive, got {per_second:g}")
        ok = False
    if burst < 1:
        reader.error("burst", f"must be 1 or more, got {burst}")
        ok = False
    return Throttle(per_second, burst) if ok and per_second > 0 else None


def parse_throttle(
    reader: MappingReader, key: str, default: Throttle | None, has_recipients: bool
) -> ChannelThrottle:
    """The channel's ``throttle`` (a mapping, or ``off``/``false``), else its default."""
    raw = reader.raw(key)
    if raw is None:
        return ChannelThrottle(default)
    if raw is False or raw == "off":
        return OFF
    if not isinstance(raw, dict):
        reader.error(key, f"expected a mapping (per_second, burst) or off, got {raw!r}")
        return ChannelThrottle(default)
    inner = MappingReader(raw, reader.field_path(key), reader.sink, reader.rule_id)
    limit = parse_limit(inner) if ("per_second" in raw or "burst" in raw) else None
    recipients: dict[str, Throttle] = {}
    per_recipient = inner.mapping("recipients")
    if per_recipient and not has_recipients:
        inner.error("recipients", "this channel has no recipients to limit one by one")
    for address, data in per_recipient.items():
        where = f"{inner.field_path('recipients')}.{address}"
        if not isinstance(data, dict):
            reader.sink.error(where, f"expected a mapping (per_second, burst), got {data!r}")
            continue
        one_reader = MappingReader(data, where, reader.sink, reader.rule_id)
        one = parse_limit(one_reader)
        one_reader.finish()
        if one is not None:
            recipients[str(address)] = one
    inner.finish()
    return ChannelThrottle(limit, recipients)
