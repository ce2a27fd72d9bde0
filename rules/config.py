"""Load and check a Klaxon config file: notifications, rules and sources, all at once.

``check_config`` never raises for a mistake in the file: it returns every problem it
found (errors and warnings), each naming the file, the rule id and the field. A config
with any error is not returned: ``load_config`` raises ``ConfigInvalid`` with the list.

The order of work: read the file, parse YAML within bounds (rules/bounded_yaml.py: no
anchors or aliases, limited size, values and depth; duplicate keys, which YAML would
silently resolve to the last one, are errors), substitute ``${VAR}`` in string values, read each
channel under ``notifications`` with its registered ``parse_settings``, read ``sources``,
then compile the rules against the channels that exist.

Unset ``${VAR}``s are warnings, not errors, so that the seed's example loads with its
secrets unset: one warning per variable in an enabled channel, a rule or a source, and a
channel's own complaint about such a field (say "password is required") is downgraded to a
warning too. A disabled channel is still parsed, but only its unknown keys are reported.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import yaml

from contract.channels import CHANNELS
from contract.heartbeat import HeartbeatConfig, load_heartbeat
from contract.mapping import MappingReader
from contract.problems import ConfigInvalid, ConfigProblem, ProblemSink
from contract.retry_policy import RetryPolicy, parse_retry
from contract.throttle import ChannelThrottle, parse_throttle
from rules import bounded_yaml
from rules.bounded_yaml import Refused, YamlLimits
from rules.envsubst import Substitution, Unset, substitute_tree
from rules.inhibit import InhibitRule, check_sources, load_inhibit
from rules.kinds import AnyRule
from rules.link_checks import warn_alertless_links
from rules.loader import ChannelDirectory, load_rules
from rules.operators import show, unknown_choice
from rules.side_files import named_files
from rules.stateful import StatefulRule
from rules.time_intervals import TimeInterval, load_time_intervals
from rules.watchlists.section import SECTION as WATCHLISTS
from rules.watchlists.section import Watchlist, load_watchlists

DEFAULT_TOPIC = "alpr.plates.detected"
# The field of problems that concern the whole file rather than one key in it.
WHOLE_FILE = "<file>"

# Limits on one event of a topic (``sources.<topic>.max_depth`` / ``max_bytes``), checked
# by the bridge's decoder (ingest/limits.py).
DEFAULT_MAX_DEPTH = 64
DEFAULT_MAX_BYTES = 1024 * 1024
# Containers deeper than this are never allowed: later stages (JSON-safe copies, template
# rendering) then stay far inside Python's recursion limit and orjson's own (1024).
MAX_DEPTH_CEILING = 512

SourceFormat = Literal["auto", "registry", "avro", "json"]
SOURCE_FORMATS: list[str] = ["auto", "registry", "avro", "json"]


@dataclass(frozen=True)
class ChannelConfig:
    """One channel under ``notifications``; ``settings`` is what its spec parsed."""

    name: str
    enabled: bool = True
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    settings: Any = None
    # Provider rate limits its sends wait for (contract.throttle; tasks.throttle enforces).
    throttle: ChannelThrottle = field(default_factory=ChannelThrottle)
    # Where a notification dead-lettered here is sent once more (never further).
    fallback: str | None = None


@dataclass(frozen=True)
class SourceConfig:
    """How to decode one topic: ``auto`` tells Schema Registry framing from JSON by byte 0."""

    topic: str
    format: SourceFormat = "auto"
    # A local .avsc, resolved against the config file's directory.
    schema: Path | None = None
    # Limits on one event (ingest.limits): a message over either is dead-lettered.
    max_depth: int = DEFAULT_MAX_DEPTH
    max_bytes: int = DEFAULT_MAX_BYTES


@dataclass(frozen=True)
class KlaxonConfig:
    path: Path
    # Stateless match rules (rules.model.Rule) and stateful ones (rules.stateful), in order.
    rules: tuple[AnyRule, ...]
    channels: dict[str, ChannelConfig]
    sources: dict[str, SourceConfig]
    # Warnings found while loading, for the caller to log.
    warnings: tuple[ConfigProblem, ...] = ()
    # The bridge's dead-man's-switch ping (contract.heartbeat), when configured.
    heartbeat: HeartbeatConfig | None = None
    # Files the rules name beside this one (rules.side_files): a reload watches them too.
    side_files: tuple[Path, ...] = ()
    # The ``watchlists:`` section: name -> hotlist (rules.watchlists).
    watchlists: Mapping[str, Watchlist] = field(default_factory=dict)
    # The ``time_intervals:`` section (name -> schedule) and the ``inhibit:`` rules.
    time_intervals: Mapping[str, TimeInterval] = field(default_factory=dict)
    inhibit: tuple[InhibitRule, ...] = ()

    @property
    def watched_files(self) -> tuple[Path, ...]:
        """The files a reload must notice besides this one: hotlist CSVs, rules' side files."""
        hotlists = tuple(w.file for w in self.watchlists.values() if w.file is not None)
        return tuple(dict.fromkeys((*hotlists, *self.side_files)))

    def source(self, topic: str) -> SourceConfig:
        """The decoding settings of ``topic`` (``auto`` when it has none)."""
        return self.sources.get(topic) or SourceConfig(topic)


def load_config(
    path: Path, env: Mapping[str, str] | None = None, default_topic: str = DEFAULT_TOPIC
) -> KlaxonConfig:
    """The config at ``path``; raise ConfigInvalid listing every problem if it has errors."""
    config, problems = check_config(path, env, default_topic)
    if config is None:
        raise ConfigInvalid(problems)
    return config


def check_config(
    path: Path, env: Mapping[str, str] | None = None, default_topic: str = DEFAULT_TOPIC
) -> tuple[KlaxonConfig | None, list[ConfigProblem]]:
    """(the config, or None if it has errors; every problem found, warnings included)."""
    sink = ProblemSink(str(path))
    env = os.environ if env is None else env
    try:
        limits = YamlLimits.from_env(env)
    except ValueError as exc:
        sink.error(WHOLE_FILE, str(exc))
        return None, sink.problems
    data = _read_yaml(path, sink, limits)
    if data is None:
        return None, sink.problems
    found = Substitution()
    data = cast(dict[str, Any], substitute_tree(data, env, found))
    for bad in found.malformed:
        sink.error(
            bad.path,
            f'invalid variable reference "{bad.text}" '
            "(write ${NAME} or ${NAME:-default}, and $${ for a literal ${)",
            _rule_id_at(data, bad.path),
        )

    top = MappingReader(data, "", sink)
    channels = _load_channels(top.mapping("notifications"), sink, found.unset)
    sources = _load_sources(top.mapping("sources"), sink, path.parent)
    watchlists = load_watchlists(top.mapping(WATCHLISTS), sink, path.parent)
    intervals = load_time_intervals(top.raw("time_intervals"), sink)
    inhibit = load_inhibit(top.raw("inhibit"), sink)
    rules: tuple[AnyRule, ...] = ()
    if top.has("rules"):
        directory = ChannelDirectory(
            known={name: spec.has_recipients for name, spec in CHANNELS.items()},
            configured={name: channel.enabled for name, channel in channels.items()},
        )
        rules = load_rules(top.raw("rules"), sink, directory, default_topic, watchlists, intervals)
    else:
        top.error("rules", "is required")
    heartbeat = load_heartbeat(top)
    top.finish()
    check_sources(inhibit, [(r.id, r.priority) for r in rules if isinstance(r, StatefulRule)], sink)
    warn_alertless_links(rules, sink)

    for variable in found.unset:
        if not variable.path.startswith("notifications."):  # those were reported above
            sink.warn(variable.path, variable.message, _rule_id_at(data, variable.path))

    if sink.errors:
        return None, sink.problems
    config = KlaxonConfig(
        path=path,
        rules=rules,
        channels=channels,
        sources=sources,
        warnings=tuple(sink.warnings),
        heartbeat=heartbeat,
        side_files=named_files(top.raw("rules"), path),
        watchlists=watchlists,
        time_intervals=intervals,
        inhibit=inhibit,
    )
    return config, sink.problems


# -- the file ---------------------------------------------------------------------------


def _read_yaml(path: Path, sink: ProblemSink, limits: YamlLimits) -> dict[str, Any] | None:
    try:
        text = bounded_yaml.read_text(path, limits)
    except bounded_yaml.ReadError as exc:
        sink.error(WHOLE_FILE, str(exc))
        return None
    parsed = bounded_yaml.parse(text, limits)
    if isinstance(parsed, Refused):
        sink.error(parsed.where, parsed.message)
        return None
    if isinstance(parsed, yaml.YAMLError):
        _report_yaml_error(parsed, sink)
        return None
    data, duplicates = parsed
    for key, mark in duplicates:
        sink.error(
            f"line {mark.line + 1}, column {mark.column + 1}",
            f'duplicate key "{key}" (YAML would silently keep only the last one)',
        )
    if data is None:
        sink.error(WHOLE_FILE, "the file is empty: expected a mapping with notifications and rules")
        return None
    if not isinstance(data, dict):
        sink.error(WHOLE_FILE, f"expected a mapping with notifications and rules, got {show(data)}")
        return None
    if duplicates:
        return None
    return data


def _report_yaml_error(exc: yaml.YAMLError, sink: ProblemSink) -> None:
    if isinstance(exc, yaml.reader.ReaderError):
        sink.error(
            f"character {exc.position + 1}",
            f"invalid YAML: {exc.reason}, found #x{exc.character:04x}",
        )
        return
    if not isinstance(exc, yaml.MarkedYAMLError):
        sink.error(WHOLE_FILE, f"invalid YAML: {exc}")
        return
    mark = exc.problem_mark or exc.context_mark
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else WHOLE_FILE
    context = ""
    if exc.context:
        started = exc.context_mark
        at = (
            f" that starts at line {started.line + 1}, column {started.column + 1}"
            if started
            else ""
        )
        context = f" ({exc.context}{at})"
    sink.error(where, f"invalid YAML: {exc.problem}{context}")


# -- notifications ------------------------------------------------------------------------


def _load_channels(
    notifications: Mapping[str, Any], sink: ProblemSink, unset: list[Unset]
) -> dict[str, ChannelConfig]:
    """Read each channel; ``unset`` lists the ${VAR}s found without a value."""
    specs = CHANNELS
    channels: dict[str, ChannelConfig] = {}
    for name, raw in notifications.items():
        where = f"notifications.{name}"
        spec = specs.get(name)
        if spec is None:
            sink.error(where, unknown_choice("channel", str(name), sorted(specs)))
            continue
        settings = {} if raw is None else raw
        if not isinstance(settings, dict):
            sink.error(where, f"expected a mapping of {name} settings, got {show(settings)}")
            continue
        enabled = settings.get("enabled", True)
        if not isinstance(enabled, bool):
            sink.error(f"{where}.enabled", f"expected true or false, got {show(enabled)}")
            enabled = True
        unset_fields = set()
        for variable in unset:
            if variable.path.startswith(f"{where}."):
                unset_fields.add(variable.path)
                if enabled:
                    sink.warn(variable.path, variable.message)
        channel_sink = ProblemSink(sink.file)
        reader = MappingReader(settings, where, channel_sink)
        reader.has("enabled")
        retry = RetryPolicy()
        retry_data = reader.mapping("retry")
        if retry_data:
            retry = parse_retry(MappingReader(retry_data, reader.field_path("retry"), channel_sink))
        throttle = parse_throttle(reader, "throttle", spec.default_throttle, spec.has_recipients)
        fallback = reader.optional("fallback", str, "") or None
        parsed = spec.parse_settings(reader)
        reader.finish()
        for problem in channel_sink.problems:
            if enabled and problem.field not in unset_fields:
                sink.problems.append(problem)
            elif enabled or problem.message.startswith("unknown key"):
                # A disabled channel is still read so that a typo in it is caught, but
                # its missing secrets are expected. In an enabled channel, a problem with
                # a value whose ${VAR} is unset is explained by the warning about the
                # variable: the deployment, not the file, has to supply it.
                sink.warn(problem.field, problem.message)
        channels[name] = ChannelConfig(
            name=name,
            enabled=enabled,
            retry=retry,
            settings=parsed,
            throttle=throttle,
            fallback=fallback,
        )
    _check_fallbacks(channels, sink)
    return channels


def _check_fallbacks(channels: Mapping[str, ChannelConfig], sink: ProblemSink) -> None:
    """A fallback names another enabled channel; it is used once, so chains do not matter."""
    for name, channel in channels.items():
        target = channel.fallback
        if target is None or not channel.enabled:
            continue
        where = f"notifications.{name}.fallback"
        if target == name:
            sink.error(where, "cannot be the channel itself")
        elif target not in channels:
            sink.error(where, unknown_choice("channel", target, sorted(channels)))
        elif not channels[target].enabled:
            sink.error(where, f'names channel "{target}", which is disabled')


# -- sources ------------------------------------------------------------------------------


def _load_sources(
    sources: Mapping[str, Any], sink: ProblemSink, base: Path
) -> dict[str, SourceConfig]:
    result: dict[str, SourceConfig] = {}
    for topic, raw in sources.items():
        where = f'sources["{topic}"]'
        settings = {} if raw is None else raw
        if not isinstance(settings, dict):
            sink.error(
                where,
                f"expected a mapping with format, schema, max_depth and max_bytes, "
                f"got {show(settings)}",
            )
            continue
        reader = MappingReader(settings, where, sink)
        kind = reader.optional("format", str, "auto")
        if kind not in SOURCE_FORMATS:
            reader.error("format", unknown_choice("format", kind, SOURCE_FORMATS))
        schema_text = reader.optional("schema", str, "")
        schema: Path | None = None
        if schema_text:
            schema = Path(schema_text)
            if not schema.is_absolute():
                schema = base / schema
            if not schema.is_file():
                reader.error("schema", f"file not found: {schema}")
            if kind == "json":
                reader.warn("schema", 'is not used with format "json"')
        elif kind == "avro":
            reader.error("schema", 'is required with format "avro" (the path of a local .avsc)')
        max_depth = reader.optional("max_depth", int, DEFAULT_MAX_DEPTH)
        if not 1 <= max_depth <= MAX_DEPTH_CEILING:
            reader.error(
                "max_depth",
                f"must be from 1 to {MAX_DEPTH_CEILING} (levels of nested objects and lists), "
                f"got {max_depth}",
            )
            max_depth = DEFAULT_MAX_DEPTH
        max_bytes = reader.optional("max_bytes", int, DEFAULT_MAX_BYTES)
        if max_bytes < 1:
            reader.error("max_bytes", f"must be at least 1 (bytes of one message), got {max_bytes}")
            max_bytes = DEFAULT_MAX_BYTES
        reader.finish()
        result[str(topic)] = SourceConfig(
            topic=str(topic),
            format=cast(SourceFormat, kind),
            schema=schema,
            max_depth=max_depth,
            max_bytes=max_bytes,
        )
    return result


# -- environment variables ----------------------------------------------------------------


def _rule_id_at(data: Mapping[str, Any], path: str) -> str | None:
    """The id of the rule that ``path`` (``rules[3].name``) is inside, if any."""
    if not path.startswith("rules["):
        return None
    index_text = path[len("rules[") :].split("]", 1)[0]
    rules = data.get("rules")
    if not index_text.isdigit() or not isinstance(rules, list) or int(index_text) >= len(rules):
        return None
    rule = rules[int(index_text)]
    rule_id = rule.get("id") if isinstance(rule, dict) else None
    return rule_id if isinstance(rule_id, str) and rule_id else None
