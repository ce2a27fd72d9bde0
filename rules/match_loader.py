"""Read a ``type: match`` rule: stateless (``Rule``), or with ``state_key`` an alert per value
(``StatefulMatchRule``).
"""

from __future__ import annotations

from contract.mapping import MappingReader
from rules.group_config import load_group, load_storm
from rules.model import DEFAULT_SUBJECT, Rule
from rules.rule_fields import (
    _GROUP_KEYS,
    _GROUP_MISPLACED,
    _STATEFUL_KEYS,
    _THRESHOLD_KEYS,
    _Common,
)
from rules.stateful import MATCH_NO_DATA, MATCH_RESOLVE, StatefulMatchRule
from rules.stateful_fields import _StatefulFields


def load_match(loader: _StatefulFields, reader: MappingReader, common: _Common) -> Rule | None:
    """A stateless match rule."""
    loader._misplaced(
        reader,
        _STATEFUL_KEYS,
        "only applies to stateful rules: set state_key, or use type: threshold",
    )
    loader._misplaced(reader, _THRESHOLD_KEYS, "only applies to threshold rules (type: threshold)")
    conditions = loader._conditions(reader, required=True)
    message = loader._template(reader, "message_template", None)
    subject = loader._template(reader, "subject_template", DEFAULT_SUBJECT)
    rate_limit = loader._rate_limit(reader)
    group = load_group(reader, loader.sink)
    storm = load_storm(reader, loader.sink, group)
    if message is None or subject is None:
        return None
    return Rule(
        id=common.id,
        name=common.name,
        enabled=common.enabled,
        priority=common.priority,
        source=common.source,
        channels=common.channels,
        conditions=conditions,
        message_template=message,
        subject_template=subject,
        rate_limit=rate_limit,
        group=group,
        storm=storm,
        index=common.index,
    )


def load_stateful_match(
    loader: _StatefulFields, reader: MappingReader, common: _Common
) -> StatefulMatchRule | None:
    """A match rule with state_key: one alert per value of the state key."""
    state_key = loader._path(reader, "state_key", "")
    loader._misplaced(reader, _THRESHOLD_KEYS, "only applies to threshold rules (type: threshold)")
    loader._misplaced(reader, _GROUP_KEYS, _GROUP_MISPLACED)
    if reader.has("rate_limit"):
        reader.error(
            "rate_limit",
            "cannot be used with state_key: a stateful rule notifies once when its alert "
            "triggers (and when it resolves), not on every match; use repeat_interval "
            "for reminders while it stays firing",
        )
    conditions = loader._conditions(reader, required=True)
    message = loader._template(reader, "message_template", None)
    subject = loader._template(reader, "subject_template", DEFAULT_SUBJECT)
    life = loader._lifecycle(reader, MATCH_RESOLVE, MATCH_NO_DATA)
    if message is None or subject is None or life is None or not state_key:
        return None
    return StatefulMatchRule(
        id=common.id,
        name=common.name,
        enabled=common.enabled,
        priority=common.priority,
        source=common.source,
        channels=common.channels,
        conditions=conditions,
        message_template=message,
        subject_template=subject,
        resolve_template=life.resolve_template,
        no_data_template=life.no_data_template,
        state_key=state_key,
        timestamp_field=life.timestamp_field,
        notify_on_resolve=life.notify_on_resolve,
        for_seconds=life.for_seconds,
        repeat_interval=life.repeat_interval,
        no_data_seconds=life.no_data_seconds,
        expected_devices=life.expected_devices,
        index=common.index,
    )
