"""Read a ``type: range`` rule: its band or ``levels``, and per-device ``overrides``.

Shapes (each bound optional, at least one per band)::

    # one band, notified on the rule's channels
    low: 25
    high: 27
    severity: warning        # optional, the default
    hysteresis: 0.2          # optional

    # several bands, each with its own severity and channels
    levels:
      - {severity: warning, low: 25, high: 27, notify: [slack]}
      - {severity: critical, low: 24, high: 28, notify: [sms], for_seconds: 1m}

    overrides:
      frag-tank: {high: 26.5}                    # a rule with one band
      frag-tank: {critical: {high: 28.5}}         # a rule with levels: per severity

A level without ``notify``, ``for_seconds``, ``repeat_interval`` or ``hysteresis`` takes
the rule's.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, TypeGuard

from contract.mapping import MappingReader
from rules.operators import show, unknown_choice
from rules.range import RANGE_MESSAGE, RANGE_NO_DATA, RANGE_RESOLVE, SEVERITIES, Level, RangeRule
from rules.side_files import read_overrides, resolve

if TYPE_CHECKING:
    from rules.loader import _Common, _RuleLoader

# Keys a range rule reads itself (the lifecycle keys are read by the common loader).
BAND_KEYS = ("low", "high")


def load_range(loader: _RuleLoader, reader: MappingReader, common: _Common) -> RangeRule | None:
    """``type: range`` from ``reader``; None when it has errors (they are in the sink)."""
    devices = loader._devices(reader)
    metric = reader.required("metric", str, "")
    if reader.has("metric") and isinstance(reader.raw("metric"), str) and not metric:
        reader.error("metric", "must not be empty")
    if reader.has("rate_limit"):
        reader.error(
            "rate_limit",
            "is not allowed on range rules: an alert notifies when it triggers, changes level "
            "and resolves; use repeat_interval for reminders while it stays firing",
        )
    conditions = loader._conditions(reader, required=False)
    state_key = loader._path(reader, "state_key", "device_id")
    message = loader._template(reader, "message_template", RANGE_MESSAGE)
    subject = loader._template(reader, "subject_template", "[{priority}] {rule_name}")
    life = loader._lifecycle(reader, RANGE_RESOLVE, RANGE_NO_DATA)
    defaults = Level(
        severity="warning",
        low=None,
        high=None,
        channels=common.channels,
        hysteresis=_hysteresis(reader),
        for_seconds=life.for_seconds if life else 0.0,
        # Range alerts remind per level in their own Lua (alerts.levels), not in the sweep.
        repeat_interval=loader._duration(reader, "repeat_interval"),
    )
    if reader.has("levels"):
        for key in (*BAND_KEYS, "severity"):
            if reader.has(key):
                reader.error(key, "cannot be combined with levels: give each level its own")
        levels = _levels(loader, reader, defaults)
    else:
        levels = _single(reader, defaults)
    overrides = _overrides(reader, levels, has_levels=reader.has("levels"), data=_limits(reader))
    if (
        message is None
        or subject is None
        or life is None
        or not metric
        or not levels
        or overrides is None
        or not state_key
    ):
        return None
    return RangeRule(
        id=common.id,
        name=common.name,
        enabled=common.enabled,
        priority=common.priority,
        source=common.source,
        channels=tuple(dict.fromkeys(c for level in levels for c in level.channels)),
        message_template=message,
        subject_template=subject,
        resolve_template=life.resolve_template,
        no_data_template=life.no_data_template,
        metric=metric,
        levels=levels,
        overrides=overrides,
        device_ids=devices,
        conditions=conditions,
        state_key=state_key,
        timestamp_field=life.timestamp_field,
        notify_on_resolve=life.notify_on_resolve,
        for_seconds=life.for_seconds,
        no_data_seconds=life.no_data_seconds,
        expected_devices=life.expected_devices,
        index=common.index,
    )


def _single(reader: MappingReader, defaults: Level) -> tuple[Level, ...]:
    """The rule's own ``low``/``high``/``severity``: one level."""
    severity = reader.optional("severity", str, "warning")
    if severity not in SEVERITIES:
        reader.error("severity", unknown_choice("severity", severity, list(SEVERITIES)))
        return ()
    low, high = _bounds(reader)
    if low is None and high is None:
        if not reader.has("low") and not reader.has("high"):
            reader.error("low", "a range rule needs low, high (or both), or levels")
        return ()
    return (replace(defaults, severity=severity, low=low, high=high),)


def _levels(loader: _RuleLoader, reader: MappingReader, defaults: Level) -> tuple[Level, ...]:
    """``levels``: one band per severity, returned lowest severity first."""
    items = reader.raw("levels")
    if not isinstance(items, list) or not items:
        reader.error("levels", f"expected a non-empty list of levels, got {show(items)}")
        return ()
    found: dict[str, Level] = {}
    ok = True
    for position, item in enumerate(items):
        where = reader.field_path(f"levels[{position}]")
        if not isinstance(item, dict):
            loader.sink.error(where, f"expected a mapping (one level), got {show(item)}")
            ok = False
            continue
        sub = MappingReader(item, where, loader.sink, reader.rule_id)
        severity = sub.required("severity", str, "")
        if sub.has("severity") and severity not in SEVERITIES:
            sub.error("severity", unknown_choice("severity", severity, list(SEVERITIES)))
            severity = ""
        elif severity in found:
            sub.error("severity", f"{severity} is given twice: one level per severity")
            severity = ""
        low, high = _bounds(sub)
        if low is None and high is None and not sub.has("low") and not sub.has("high"):
            sub.error("low", "a level needs low, high or both")
        channels = defaults.channels
        if sub.has("notify"):
            _, channels = loader._notify(sub, True)
        level = replace(
            defaults,
            severity=severity,
            low=low,
            high=high,
            channels=channels,
            hysteresis=_hysteresis(sub, defaults.hysteresis),
            for_seconds=_duration(loader, sub, "for_seconds", defaults.for_seconds),
            repeat_interval=_duration(loader, sub, "repeat_interval", defaults.repeat_interval),
        )
        before = len(loader.sink.problems)
        sub.finish()
        errors = [p for p in loader.sink.problems[before:] if not p.warning]
        if severity and (low is not None or high is not None) and not errors:
            found[severity] = level
        else:
            ok = False
    if not ok:
        return ()
    return tuple(found[s] for s in SEVERITIES if s in found)


def _limits(reader: MappingReader) -> dict[str, object] | None:
    """The overrides of ``overrides_file`` then ``overrides`` (which wins per device)."""
    from_file: dict[str, object] = {}
    path = resolve(reader, "overrides_file")
    if path is not None:
        read = read_overrides(reader, "overrides_file", path)
        if read is None:
            return None
        from_file = read
    return {**from_file, **reader.mapping("overrides")}


def _overrides(
    reader: MappingReader,
    levels: tuple[Level, ...],
    has_levels: bool,
    data: dict[str, object] | None,
) -> dict[str, tuple[Level, ...]] | None:
    """``overrides``: device id -> its levels; None when any override is invalid."""
    if data is None:
        return None
    result: dict[str, tuple[Level, ...]] = {}
    ok = True
    for device, given in data.items():
        where = reader.field_path(f"overrides.{device}")
        if not isinstance(given, dict) or not given:
            reader.error(f"overrides.{device}", f"expected a mapping of limits, got {show(given)}")
            ok = False
            continue
        sub = MappingReader(given, where, reader.sink, reader.rule_id)
        source = f"override for {device}"
        if not has_levels:
            low, high = _bounds(sub, levels[0] if levels else None)
            if levels:
                result[str(device)] = (replace(levels[0], low=low, high=high, limit_source=source),)
        else:
            by_severity = {level.severity: level for level in levels}
            changed: dict[str, Level] = {}
            for severity in SEVERITIES:
                if not sub.has(severity):
                    continue
                band = sub.mapping(severity)
                if severity not in by_severity:
                    sub.error(severity, f"this rule has no {severity} level")
                    continue
                inner = MappingReader(band, sub.field_path(severity), reader.sink, reader.rule_id)
                low, high = _bounds(inner, by_severity[severity])
                inner.finish()
                changed[severity] = replace(
                    by_severity[severity], low=low, high=high, limit_source=source
                )
            result[str(device)] = tuple(changed.get(level.severity, level) for level in levels)
        before = len(reader.sink.problems)
        sub.finish()
        if any(not p.warning for p in reader.sink.problems[before:]):
            ok = False
    return result if ok else None


def _bounds(reader: MappingReader, base: Level | None = None) -> tuple[float | None, float | None]:
    """``low`` and ``high`` (each optional; ``base``'s when absent); low must be below high."""
    low = base.low if base else None
    high = base.high if base else None
    if reader.has("low") and _is_number(given_low := reader.raw("low")):
        low = float(given_low)
    elif reader.has("low"):
        reader.error("low", f"expected a number, got {show(reader.raw('low'))}")
    if reader.has("high") and _is_number(given_high := reader.raw("high")):
        high = float(given_high)
    elif reader.has("high"):
        reader.error("high", f"expected a number, got {show(reader.raw('high'))}")
    if low is not None and high is not None and low >= high:
        reader.error("low", f"must be below high ({high:g}), got {low:g}")
    return low, high


def _hysteresis(reader: MappingReader, default: float = 0.0) -> float:
    raw = reader.raw("hysteresis")
    if raw is None:
        return default
    if not _is_number(raw) or raw < 0:
        reader.error("hysteresis", f"expected a number >= 0, got {show(raw)}")
        return default
    return float(raw)


def _duration(loader: _RuleLoader, reader: MappingReader, key: str, default: float) -> float:
    return loader._duration(reader, key) if reader.has(key) else default


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)
