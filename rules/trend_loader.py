"""Read the trend rule types (rules.trends): rate_of_change, moving_average, anomaly, forecast.

Keys by type (besides metric, device_id, conditions, state_key and the lifecycle keys):

- rate_of_change: ``threshold`` (> 0, the change per ``per``), ``per`` (a duration),
  ``window`` (a duration, default ``per``), ``direction`` (rising, falling, both);
- moving_average: ``operator`` and ``threshold``, or a band ``low``/``high``; and
  ``readings`` (a count) and/or ``window``;
- anomaly: ``k`` (default 3), ``min_samples`` (default 10), ``alpha`` (0 < alpha <= 1,
  default 0.1);
- forecast: ``operator``, ``threshold``, ``horizon`` and ``window`` (durations),
  ``min_samples`` (default 3).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from contract.mapping import MappingReader
from rules.operators import show, unknown_choice
from rules.trends import (
    DIRECTIONS,
    TREND_MESSAGES,
    TREND_NO_DATA,
    TREND_RESOLVE,
    TREND_TYPES,
    TrendRule,
)

if TYPE_CHECKING:
    from rules.loader import _RuleLoader
    from rules.rule_fields import _Common

# Which parameter keys each type reads; any other is reported as not applying to it.
_KEYS = {
    "rate_of_change": ("threshold", "per", "window", "direction"),
    "moving_average": ("operator", "threshold", "low", "high", "readings", "window", "min_samples"),
    "anomaly": ("k", "min_samples", "alpha"),
    "forecast": ("operator", "threshold", "horizon", "window", "min_samples"),
}
_ALL_KEYS = sorted({key for keys in _KEYS.values() for key in keys})


def load_trend(
    loader: _RuleLoader, reader: MappingReader, common: _Common, kind: str
) -> TrendRule | None:
    """One trend rule of type ``kind`` from ``reader``; None when it has errors."""
    assert kind in TREND_TYPES
    first_problem = len(loader.sink.problems)
    for key in _ALL_KEYS:
        if key not in _KEYS[kind] and reader.has(key):
            reader.error(key, f"does not apply to type {kind}")
    devices = loader._devices(reader)
    metric = reader.required("metric", str, "")
    if reader.has("rate_limit"):
        reader.error("rate_limit", "is not allowed on trend rules; use repeat_interval")
    conditions = loader._conditions(reader, required=False)
    state_key = loader._path(reader, "state_key", "device_id")
    banded = kind == "moving_average" and (reader.has("low") or reader.has("high"))
    default_message = TREND_MESSAGES["moving_average_band" if banded else kind]
    message = loader._template(reader, "message_template", default_message)
    subject = loader._template(reader, "subject_template", "[{priority}] {rule_name}")
    life = loader._lifecycle(reader, TREND_RESOLVE, TREND_NO_DATA)

    operator: str | None = None
    threshold: float | None = None
    per = window = horizon = 0.0
    readings, min_samples, k, alpha, direction = 0, 2, 3.0, 0.1, "both"
    low: float | None = None
    high: float | None = None
    if kind == "rate_of_change":
        threshold = _positive(reader, "threshold", required=True)
        per = _duration(loader, reader, "per", required=True)
        window = _duration(loader, reader, "window") or per
        direction = reader.optional("direction", str, "both")
        if direction not in DIRECTIONS:
            reader.error("direction", unknown_choice("direction", direction, list(DIRECTIONS)))
    elif kind == "moving_average":
        if reader.has("low") or reader.has("high"):
            low, high = _band(reader)
        else:
            operator = loader._operator(reader)
            threshold = reader.required("threshold", float, 0.0)
        readings = reader.optional("readings", int, 0)
        window = _duration(loader, reader, "window")
        if readings <= 0 and window <= 0:
            reader.error("readings", "give readings (a count > 0), window (a duration) or both")
        min_samples = reader.optional("min_samples", int, readings or 1)
    elif kind == "anomaly":
        k = _positive(reader, "k", required=False) or 3.0
        min_samples = reader.optional("min_samples", int, 10)
        alpha = reader.optional("alpha", float, 0.1)
        if not 0 < alpha <= 1:
            reader.error("alpha", f"must be > 0 and <= 1, got {show(alpha)}")
    else:  # forecast
        operator = loader._operator(reader)
        threshold = reader.required("threshold", float, 0.0)
        horizon = _duration(loader, reader, "horizon", required=True)
        window = _duration(loader, reader, "window", required=True)
        min_samples = reader.optional("min_samples", int, 3)
    if min_samples < 1:
        reader.error("min_samples", f"must be at least 1, got {min_samples}")

    errors = [p for p in loader.sink.problems[first_problem:] if not p.warning]
    if errors or message is None or subject is None or life is None or not metric:
        return None
    return TrendRule(
        id=common.id,
        name=common.name,
        enabled=common.enabled,
        priority=common.priority,
        source=common.source,
        channels=common.channels,
        message_template=message,
        subject_template=subject,
        resolve_template=life.resolve_template,
        no_data_template=life.no_data_template,
        kind=kind,
        metric=metric,
        operator=operator,
        threshold=threshold,
        per=per,
        window=window,
        readings=readings,
        direction=direction,
        horizon=horizon,
        low=low,
        high=high,
        k=k,
        alpha=alpha,
        min_samples=min_samples,
        device_ids=devices,
        conditions=conditions,
        state_key=state_key,
        timestamp_field=life.timestamp_field,
        notify_on_resolve=life.notify_on_resolve,
        for_seconds=life.for_seconds,
        repeat_interval=life.repeat_interval,
        no_data_seconds=life.no_data_seconds,
        expected_devices=life.expected_devices,
        index=common.index,
    )


def _duration(
    loader: _RuleLoader, reader: MappingReader, key: str, required: bool = False
) -> float:
    if not reader.has(key):
        if required:
            reader.error(key, "is required (a duration like 30s, 10m or 1h)")
        return 0.0
    seconds = loader._duration(reader, key)
    if seconds <= 0 and reader.raw(key) is not None:
        reader.error(key, f"must be positive, got {show(reader.raw(key))}")
    return seconds


def _band(reader: MappingReader) -> tuple[float | None, float | None]:
    """``low`` and/or ``high`` of a moving average band; not with operator/threshold."""
    for key in ("operator", "threshold"):
        if reader.has(key):
            reader.error(key, "cannot be combined with low/high: give a threshold or a band")
    low = reader.optional("low", float, 0.0) if reader.has("low") else None
    high = reader.optional("high", float, 0.0) if reader.has("high") else None
    if low is not None and high is not None and low >= high:
        reader.error("low", f"must be below high ({high:g}), got {low:g}")
    return low, high


def _positive(reader: MappingReader, key: str, required: bool) -> float:
    value = reader.required(key, float, 0.0) if required else reader.optional(key, float, 0.0)
    if reader.has(key) and value <= 0:
        reader.error(key, f"must be positive, got {show(reader.raw(key))}")
    return value
