"""Read a ``type: threshold`` rule: a metric of device readings against a threshold."""

from __future__ import annotations

from contract.mapping import MappingReader
from rules.model import DEFAULT_SUBJECT
from rules.rule_fields import _GROUP_KEYS, _GROUP_MISPLACED, _Common
from rules.stateful import (
    DEFAULT_THRESHOLD_STATE_KEY,
    THRESHOLD_MESSAGE,
    THRESHOLD_NO_DATA,
    THRESHOLD_RESOLVE,
    ThresholdRule,
)
from rules.stateful_fields import _StatefulFields


def load_threshold(
    loader: _StatefulFields, reader: MappingReader, common: _Common
) -> ThresholdRule | None:
    """``type: threshold``: a metric of device readings against a threshold."""
    loader._misplaced(reader, _GROUP_KEYS, _GROUP_MISPLACED)
    devices = loader._devices(reader)
    metric = reader.required("metric", str, "")
    if reader.has("metric") and isinstance(reader.raw("metric"), str) and not metric:
        reader.error("metric", "must not be empty")
    operator = loader._operator(reader)
    threshold = reader.required("threshold", float, 0.0)
    has_threshold = isinstance(reader.raw("threshold"), int | float) and not isinstance(
        reader.raw("threshold"), bool
    )
    resolve = loader._resolve_threshold(reader, operator, threshold if has_threshold else None)
    if reader.has("rate_limit"):
        reader.error(
            "rate_limit",
            "is not allowed on threshold rules: an alert notifies once when it triggers "
            "(and when it resolves); use repeat_interval for reminders while it stays firing",
        )
    conditions = loader._conditions(reader, required=False)
    state_key = loader._path(reader, "state_key", DEFAULT_THRESHOLD_STATE_KEY)
    message = loader._template(reader, "message_template", THRESHOLD_MESSAGE)
    subject = loader._template(reader, "subject_template", DEFAULT_SUBJECT)
    life = loader._lifecycle(reader, THRESHOLD_RESOLVE, THRESHOLD_NO_DATA)
    if (
        message is None
        or subject is None
        or life is None
        or not metric
        or operator is None
        or not has_threshold
        or not state_key
    ):
        return None
    return ThresholdRule(
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
        metric=metric,
        operator=operator,
        threshold=threshold,
        resolve_threshold=resolve,
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
