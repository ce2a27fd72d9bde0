"""Files a rule names beside the rules file: per-device limits, expected device lists.

A path is relative to the rules file. The files are read whenever the rules are (load,
SIGHUP, a change to the rules file or to any of these files: ingest.reload watches them),
and a problem in one is reported against the rule's field, with the file and line.

- ``overrides_file``: YAML in the shape of ``overrides:`` (device -> limits), or CSV with a
  header ``device,low,high`` (one band) or ``device,severity,low,high`` (levels); an empty
  cell keeps the rule's limit. A threshold rule's CSV has the header
  ``device,threshold[,resolve_threshold]``, and each device's origin (file, line) is kept
  for the checks that come later (rules.threshold_overrides).
- ``expected_devices_file``: a YAML list of ids, or text with one id per line (``#``
  comments and blank lines skipped).
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from contract.mapping import MappingReader
from rules import bounded_yaml
from rules.bounded_yaml import Refused, YamlLimits

# What _load_yaml returns for a file it refused (None is a valid, empty document).
_INVALID = object()


def resolve(reader: MappingReader, key: str) -> Path | None:
    """The path at ``key``, relative to the rules file; None (reported) when unreadable."""
    raw = reader.raw(key)
    if raw is None:
        return None
    if not isinstance(raw, str) or not raw:
        reader.error(key, f"expected a file path, got {raw!r}")
        return None
    path = Path(raw)
    if not path.is_absolute():
        path = Path(reader.sink.file).parent / path
    if not path.is_file():
        reader.error(key, f"file not found: {path}")
        return None
    return path


def _read_text(reader: MappingReader, key: str, path: Path) -> str | None:
    """The file's text, no larger than a rules file may be (rules.bounded_yaml)."""
    try:
        return bounded_yaml.read_text(path, YamlLimits())
    except bounded_yaml.ReadError as exc:
        reader.error(key, f"{path}: {exc}")
        return None


def _load_yaml(reader: MappingReader, key: str, path: Path, text: str) -> object:
    """``text`` parsed within the rules file's bounds: no aliases, no bombs, bounded size."""
    parsed = bounded_yaml.parse(text, YamlLimits())
    if isinstance(parsed, Refused):
        reader.error(key, f"{path}: {parsed.where}: {parsed.message}")
        return _INVALID
    if isinstance(parsed, yaml.YAMLError):
        reader.error(key, f"{path} is not valid YAML: {parsed}")
        return _INVALID
    data, duplicates = parsed
    for name, mark in duplicates:
        # As in the rules file: YAML would silently keep only the last one.
        reader.error(key, f'{path}: line {mark.line + 1}: duplicate key "{name}"')
    return _INVALID if duplicates else data


def read_overrides(reader: MappingReader, key: str, path: Path) -> dict[str, object] | None:
    """The overrides in ``path`` as the ``overrides:`` mapping would give them."""
    text = _read_text(reader, key, path)
    if text is None:
        return None
    if path.suffix.lower() == ".csv":
        return _csv_overrides(reader, key, path, text)
    return _yaml_overrides(reader, key, path, text)


@dataclass(frozen=True)
class Placed:
    """Per-device limits read from a file, with where each device's were given."""

    limits: dict[str, object]  # device id -> its limits, in the shape of ``overrides:``
    places: dict[str, str]  # device id -> "limits.csv line 3", or the YAML file's path


THRESHOLD_COLUMNS = ("device", "threshold", "resolve_threshold")


def read_threshold_overrides(reader: MappingReader, key: str, path: Path) -> Placed | None:
    """A threshold rule's overrides in ``path``: YAML ``{device: {threshold: ..}}`` or CSV."""
    text = _read_text(reader, key, path)
    if text is None:
        return None
    if path.suffix.lower() == ".csv":
        return _csv_thresholds(reader, key, path, text)
    data = _yaml_overrides(reader, key, path, text)
    if data is None:
        return None
    return Placed(data, dict.fromkeys(data, str(path)))


def _csv_thresholds(reader: MappingReader, key: str, path: Path, text: str) -> Placed | None:
    rows = csv.DictReader(io.StringIO(text))
    columns = [c.strip() for c in rows.fieldnames or ()]
    unknown = [c for c in columns if c not in THRESHOLD_COLUMNS]
    if unknown or not {"device", "threshold"} <= set(columns):
        extra = f" (unknown: {', '.join(unknown)})" if unknown else ""
        reader.error(key, f"{path}: the header must be device,threshold[,resolve_threshold]{extra}")
        return None
    rows.fieldnames = columns
    placed = Placed({}, {})
    for line, row in enumerate(rows, start=2):
        device = (row.get("device") or "").strip()
        if not device:
            reader.error(key, f"{path} line {line}: no device id")
            return None
        if device in placed.places:
            reader.error(
                key, f"{path} line {line}: {device} is also given at {placed.places[device]}"
            )
            return None
        limits: dict[str, float] = {}
        for column in THRESHOLD_COLUMNS[1:]:
            number = _cell(reader, key, f"{path} line {line}", column, row.get(column))
            if number is _INVALID:
                return None
            if isinstance(number, float):
                limits[column] = number
        placed.limits[device] = limits
        placed.places[device] = f"{path} line {line}"
    return placed


def _cell(reader: MappingReader, key: str, where: str, column: str, given: str | None) -> object:
    """A CSV cell as a float; None when empty (the rule's limit stays), else _INVALID."""
    cell = (given or "").strip()
    if not cell:
        return None
    try:
        number = float(cell)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):  # "nan" and "inf" parse, but are no limit
        reader.error(key, f"{where}: {column} {cell!r} is not a number")
        return _INVALID
    return number


def _yaml_overrides(
    reader: MappingReader, key: str, path: Path, text: str
) -> dict[str, object] | None:
    data = _load_yaml(reader, key, path, text)
    if data is _INVALID:
        return None
    if not isinstance(data, dict):
        reader.error(key, f"{path}: expected a mapping of device id -> limits")
        return None
    return {str(device): limits for device, limits in data.items()}


def _csv_overrides(
    reader: MappingReader, key: str, path: Path, text: str
) -> dict[str, object] | None:
    rows = csv.DictReader(io.StringIO(text))
    columns = set(rows.fieldnames or ())
    if not {"device", "low", "high"} <= columns:
        reader.error(key, f"{path}: the header must name device, low and high (and severity)")
        return None
    result: dict[str, Any] = {}
    for line, row in enumerate(rows, start=2):
        device = (row.get("device") or "").strip()
        if not device:
            reader.error(key, f"{path} line {line}: no device id")
            return None
        limits: dict[str, float] = {}
        for bound in ("low", "high"):
            number = _cell(reader, key, f"{path} line {line}", bound, row.get(bound))
            if number is _INVALID:
                return None
            if isinstance(number, float):
                limits[bound] = number
        severity = (row.get("severity") or "").strip()
        if severity:
            result.setdefault(device, {})[severity] = limits
        else:
            result[device] = limits
    return result


def read_ids(reader: MappingReader, key: str, path: Path) -> list[str] | None:
    """The device ids in ``path``: a YAML list, or one id per line."""
    text = _read_text(reader, key, path)
    if text is None:
        return None
    if path.suffix.lower() in (".yaml", ".yml"):
        data = _load_yaml(reader, key, path, text)
        if data is _INVALID:
            return None
        if not isinstance(data, list):
            reader.error(key, f"{path}: expected a list of device ids")
            return None
        return [str(item) for item in data]
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return [line for line in lines if line]


SIDE_FILE_KEYS = ("overrides_file", "expected_devices_file")


def named_files(rules: object, rules_file: Path) -> tuple[Path, ...]:
    """Every side file the ``rules:`` list names, resolved: what a reload also watches."""
    found: list[Path] = []
    for rule in rules if isinstance(rules, list) else []:
        for key in SIDE_FILE_KEYS:
            raw = rule.get(key) if isinstance(rule, dict) else None
            if isinstance(raw, str) and raw:
                path = Path(raw)
                found.append(path if path.is_absolute() else rules_file.parent / path)
    return tuple(dict.fromkeys(found))
