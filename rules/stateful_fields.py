"""The fields of stateful rules: device ids, the comparison and its hysteresis, durations,
expected devices, and the alert lifecycle (resolve and no-data messages, timers).
"""

from __future__ import annotations

from dataclasses import dataclass

from contract.mapping import MappingReader
from rules.operators import show, unknown_choice
from rules.rule_fields import _RuleFields
from rules.side_files import read_ids, resolve
from rules.stateful import (
    COMPARISONS,
    DEFAULT_TIMESTAMP_FIELD,
    DURATION_EXPECTED,
    OPERATOR_WORDS,
    parse_duration,
)
from rules.templates import Template

THRESHOLD_OPERATORS = [*COMPARISONS, *OPERATOR_WORDS]


@dataclass(frozen=True)
class _Lifecycle:
    """The keys of a stateful rule's alert lifecycle."""

    resolve_template: Template
    no_data_template: Template
    timestamp_field: str
    notify_on_resolve: bool
    for_seconds: float
    repeat_interval: float
    no_data_seconds: float
    expected_devices: tuple[str, ...]


class _StatefulFields(_RuleFields):
    """Adds the fields of threshold, range, trend and stateful match rules."""

    def _devices(self, reader: MappingReader) -> frozenset[str] | None:
        """``device_id``: None (every device) when absent or "*", else the accepted ids."""
        raw = reader.raw("device_id")
        if raw is None or raw == "*":
            return None
        items = raw if isinstance(raw, list) else [raw]
        if isinstance(raw, list) and not raw:
            reader.error("device_id", 'must list at least one device id (or use "*" for all)')
            return None
        ids: set[str] = set()
        for position, given in enumerate(items):
            key = f"device_id[{position}]" if isinstance(raw, list) else "device_id"
            # Integer ids (Bella's Reef's devices.id) are compared as text, like the key.
            item = str(given) if isinstance(given, int) and not isinstance(given, bool) else given
            if not isinstance(item, str) or not item:
                expected = "a device id" if isinstance(raw, list) else 'a device id, a list or "*"'
                reader.error(key, f"expected {expected}, got {show(given)}")
            elif item == "*":
                reader.error(key, '"*" (every device) cannot be combined with device ids')
            else:
                ids.add(item)
        return frozenset(ids)

    def _operator(self, reader: MappingReader) -> str | None:
        """The comparison, normalised to its symbol; None when missing or unknown."""
        text = reader.required("operator", str, "")
        if not reader.has("operator") or not isinstance(reader.raw("operator"), str):
            return None
        symbol = OPERATOR_WORDS.get(text.strip(), text.strip())
        if symbol in COMPARISONS:
            return symbol
        if not text.strip():
            reader.error(
                "operator",
                'is empty: quote a symbol in YAML, e.g. operator: ">" '
                "(a bare > starts a folded text block)",
            )
        else:
            reader.error("operator", unknown_choice("operator", text, THRESHOLD_OPERATORS))
        return None

    def _resolve_threshold(
        self, reader: MappingReader, operator: str | None, threshold: float | None
    ) -> float | None:
        """``resolve_threshold`` (hysteresis): on the resolving side of ``threshold``."""
        resolve = reader.optional("resolve_threshold", float, 0.0)
        raw = reader.raw("resolve_threshold")
        if raw is None or not isinstance(raw, int | float) or isinstance(raw, bool):
            return None
        if operator in ("==", "!="):
            reader.error(
                "resolve_threshold",
                f'is not allowed with operator "{operator}": '
                "hysteresis needs one of >, >=, < or <=",
            )
        elif threshold is not None and (
            (operator in (">", ">=") and resolve > threshold)
            or (operator in ("<", "<=") and resolve < threshold)
        ):
            side = "<=" if operator in (">", ">=") else ">="
            reader.error(
                "resolve_threshold",
                f"must be {side} threshold ({show(reader.raw('threshold'))}) with operator "
                f'"{operator}", got {show(raw)}: the alert resolves once the value is no longer '
                f"{operator} resolve_threshold",
            )
        return resolve

    def _lifecycle(
        self, reader: MappingReader, resolve_default: str, no_data_default: str
    ) -> _Lifecycle | None:
        notify_on_resolve = reader.optional("notify_on_resolve", bool, False)
        resolve = self._template(reader, "resolve_template", resolve_default)
        no_data = self._template(reader, "no_data_template", no_data_default)
        timestamp_field = self._path(reader, "timestamp_field", DEFAULT_TIMESTAMP_FIELD)
        for_seconds = self._duration(reader, "for_seconds")
        repeat = self._duration(reader, "repeat_interval")
        no_data_seconds = self._duration(reader, "no_data_seconds")
        expected = self._expected_devices(reader, no_data_seconds)
        if reader.has("resolve_template") and resolve is not None and not notify_on_resolve:
            reader.warn(
                "resolve_template",
                "is not used: notify_on_resolve is false, so no resolve message is sent",
            )
        if reader.has("no_data_template") and no_data is not None and no_data_seconds == 0:
            reader.warn(
                "no_data_template",
                "is not used: no_data_seconds is 0, so no no-data alert is sent",
            )
        if resolve is None or no_data is None or not timestamp_field:
            return None
        return _Lifecycle(
            resolve_template=resolve,
            no_data_template=no_data,
            timestamp_field=timestamp_field,
            notify_on_resolve=notify_on_resolve,
            for_seconds=for_seconds,
            repeat_interval=repeat,
            no_data_seconds=no_data_seconds,
            expected_devices=expected,
        )

    def _expected_devices(self, reader: MappingReader, no_data_seconds: float) -> tuple[str, ...]:
        """``expected_devices`` and ``expected_devices_file``: ids alerted even if never seen."""
        raw = reader.raw("expected_devices")
        path = resolve(reader, "expected_devices_file")
        if path is not None:
            listed = raw if isinstance(raw, list) else []
            raw = [*listed, *(read_ids(reader, "expected_devices_file", path) or [])]
        elif reader.has("expected_devices_file"):
            return ()
        if raw is None:
            return ()
        if not isinstance(raw, list) or not raw:
            reader.error("expected_devices", f"expected a non-empty list of ids, got {show(raw)}")
            return ()
        if no_data_seconds <= 0:
            reader.error(
                "expected_devices",
                "needs no_data_seconds: how long a device may stay silent before its alert",
            )
        ids: list[str] = []
        for position, given in enumerate(raw):
            # Integer ids (Bella's Reef's devices.id) are compared as text, like the key.
            item = str(given) if isinstance(given, int) and not isinstance(given, bool) else given
            if not isinstance(item, str) or not item:
                reader.error(f"expected_devices[{position}]", f"expected an id, got {show(given)}")
            elif item not in ids:
                ids.append(item)
        return tuple(ids)

    def _duration(self, reader: MappingReader, key: str) -> float:
        """Seconds (a number, or "45s" / "30m" / "1h" / "2d"); 0 when absent or invalid."""
        raw = reader.raw(key)
        if raw is None:
            return 0.0
        seconds = parse_duration(raw)
        if seconds is None:
            reader.error(key, f"{DURATION_EXPECTED}, got {show(raw)}")
            return 0.0
        if seconds < 0:
            reader.error(key, f"must not be negative, got {show(raw)}")
            return 0.0
        return seconds
