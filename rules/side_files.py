"""Files a rule names beside the rules file: per-device limits, expected device lists.

A path is relative to the rules file. The files are read whenever the rules are (load,
SIGHUP, a change to the rules file or to any of these files: ingest.reload watches them),
and a problem in one is reported against the rule's field, with the file and line.

- ``overrides_file``: YAML in the shape of ``overrides:`` (device -> limits), or CSV with a
  header ``device,low,high`` (one band) or ``device,severity,low,high`` (levels); an empty
  cell keeps the rule's limit.
- ``expected_devices_file``: a YAML list of ids, or text with one id per line (``#``
  comments and blank lines skipped).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import yaml

from contract.mapping import MappingReader
from rules import bounded_yaml
from rules.bounded_yaml import Refused, YamlLimits, too_large

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
    limit = YamlLimits().max_bytes
    try:
        with path.open("rb") as file:
            raw = file.read(limit + 1)
        if len(raw) > limit:
            reader.error(key, f"{path}: {too_large(YamlLimits())}")
            return None
        return raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reader.error(key, f"cannot read {path}: {exc}")
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
    return parsed[0]


def read_overrides(reader: MappingReader, key: str, path: Path) -> dict[str, object] | None:
    """The overrides in ``path`` as the ``overrides:`` mapping would give them."""
    text = _read_text(reader, key, path)
    if text is None:
        return None
    if path.suffix.lower() == ".csv":
        return _csv_overrides(reader, key, path, text)
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
            cell = (row.get(bound) or "").strip()
            if not cell:
                continue
            try:
                limits[bound] = float(cell)
            except ValueError:
                reader.error(key, f"{path} line {line}: {bound} {cell!r} is not a number")
                return None
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
