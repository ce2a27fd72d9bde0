"""Per-device limits of a ``type: threshold`` rule: ``overrides`` and ``overrides_file``.

Shapes::

    overrides:
      frag-tank: {threshold: 26.5, resolve_threshold: 26.0}
    overrides_file: limits.yaml   # the same mapping, or CSV: device,threshold[,resolve_threshold]

A device's override keeps the rule's value for what it leaves out (an empty CSV cell too);
``overrides`` wins over the file per device. A resolve threshold, the device's own or the
rule's, must be on the resolving side of the device's threshold, as the rule's must.
A problem in the file is reported against ``overrides_file`` with the file (and line).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from contract.mapping import MappingReader
from rules.operators import show
from rules.side_files import read_threshold_overrides, resolve
from rules.stateful import Limits

LIMIT_KEYS = ("threshold", "resolve_threshold")

# Reports one problem: (the override's key, the message).
Report = Callable[[str, str], None]


def load_threshold_overrides(
    reader: MappingReader, operator: str | None, threshold: float | None, resolve_at: float | None
) -> dict[str, Limits] | None:
    """Device -> its limits; None when any override is invalid (the errors are in the sink).

    ``operator``, ``threshold`` and ``resolve_at`` are the rule's (None when invalid: the
    overrides are then read for their own errors only).
    """
    path = resolve(reader, "overrides_file")
    placed = read_threshold_overrides(reader, "overrides_file", path) if path else None
    if reader.has("overrides_file") and placed is None:
        reader.mapping("overrides")  # still known, and type-checked
        return None
    given: dict[str, tuple[object, Report]] = {}
    for device, limits in (placed.limits if placed else {}).items():
        place = placed.places[device] if placed else ""
        given[device] = (limits, _in_file(reader, place, device))
    for device, limits in reader.mapping("overrides").items():
        given[str(device)] = (limits, _inline(reader, str(device)))
    result: dict[str, Limits] = {}
    ok = True
    for device, (limits, report) in given.items():
        found = _limits(limits, report, operator, threshold, resolve_at, f"override for {device}")
        if found is None:
            ok = False
        else:
            result[device] = found
    return result if ok and operator is not None and threshold is not None else None


def _inline(reader: MappingReader, device: str) -> Report:
    return lambda key, message: reader.error(f"overrides.{device}.{key}", message)


def _in_file(reader: MappingReader, place: str, device: str) -> Report:
    return lambda key, message: reader.error("overrides_file", f"{place}: {device}.{key} {message}")


def _limits(
    given: object,
    report: Report,
    operator: str | None,
    threshold: float | None,
    resolve_at: float | None,
    source: str,
) -> Limits | None:
    """One device's limits over the rule's; None (reported) when invalid."""
    if not isinstance(given, Mapping) or not given:
        report(
            "threshold", f"expected a mapping of threshold and resolve_threshold, got {show(given)}"
        )
        return None
    ok = True
    for key in given:
        if key not in LIMIT_KEYS:
            report(str(key), "is an unknown key (expected threshold or resolve_threshold)")
            ok = False
    numbers: dict[str, float] = {}
    for key in LIMIT_KEYS:
        if key not in given:
            continue
        value = given[key]
        if isinstance(value, int | float) and not isinstance(value, bool):
            numbers[key] = float(value)
        else:
            report(key, f"expected a number, got {show(value)}")
            ok = False
    if not ok or operator is None or threshold is None:
        return None
    limit = numbers.get("threshold", threshold)
    resolve_limit = numbers.get("resolve_threshold", resolve_at)
    if "resolve_threshold" in numbers and operator in ("==", "!="):
        report(
            "resolve_threshold",
            f'is not allowed with operator "{operator}": hysteresis needs one of >, >=, < or <=',
        )
        return None
    side = wrong_side(operator, limit, resolve_limit)
    if side is not None:
        whose = "" if "resolve_threshold" in numbers else "(the rule's) "
        report(
            "resolve_threshold",
            f"{whose}must be {side} threshold ({limit:g}) with operator "
            f'"{operator}", got {resolve_limit:g}: the alert resolves once the value is no '
            f"longer {operator} resolve_threshold",
        )
        return None
    return Limits(limit, resolve_limit, source)


def wrong_side(operator: str, threshold: float, resolve_at: float | None) -> str | None:
    """The side ``resolve_at`` must be on, when it is on the other one; else None."""
    if resolve_at is None:
        return None
    if operator in (">", ">=") and resolve_at > threshold:
        return "<="
    if operator in ("<", "<=") and resolve_at < threshold:
        return ">="
    return None
