"""The rules file and its validation report, as the API shows it: no setting, no secret."""

from __future__ import annotations

import time
from functools import lru_cache
from pathlib import Path

from contract.problems import ConfigProblem
from contract.redaction import SecretRegistry
from klaxon.api import schemas
from rules.config import KlaxonConfig, check_config
from rules.model import Rule
from rules.stateful import ThresholdRule

# A console page refreshes every 5 s, per open tab: the file (with its watchlists, up to
# millions of entries) is checked again when it changes, and at least this often, since a
# watchlist or overrides file it names may change without it.
RECHECK_SECONDS = 30.0


def checked_config(
    path: Path, default_topic: str
) -> tuple[KlaxonConfig | None, list[ConfigProblem]]:
    """``check_config(path)``, reused while the file is unchanged and RECHECK_SECONDS long."""
    try:
        stat = path.stat()
    except OSError:
        return check_config(path, default_topic=default_topic)  # it says what is wrong
    period = int(time.monotonic() // RECHECK_SECONDS)
    return _checked(str(path), stat.st_mtime_ns, stat.st_size, default_topic, period)


@lru_cache(maxsize=4)
def _checked(
    path: str, _mtime_ns: int, _size: int, default_topic: str, _period: int
) -> tuple[KlaxonConfig | None, list[ConfigProblem]]:
    return check_config(Path(path), default_topic=default_topic)


def rules_report(path: Path, default_topic: str) -> schemas.Rules:
    """Check ``path``; problems are redacted of every secret the environment or file holds."""
    config, problems = checked_config(path, default_topic)
    secrets = SecretRegistry()
    secrets.add_env()
    if config is not None:
        secrets.add_channels(config.channels)
    rules = [] if config is None else list(config.rules)
    return schemas.Rules(
        path=str(path),
        valid=config is not None and not any(not p.warning for p in problems),
        rules=[
            schemas.Rule(
                id=rule.id,
                name=rule.name,
                kind="match"
                if isinstance(rule, Rule)
                else "threshold"
                if isinstance(rule, ThresholdRule)
                else "stateful_match",
                enabled=rule.enabled,
                priority=str(rule.priority),
                source=rule.source,
                channels=list(rule.channels),
            )
            for rule in rules
        ],
        channels=[]
        if config is None
        else sorted(name for name, c in config.channels.items() if c.enabled),
        problems=[
            schemas.Problem(
                file=p.file,
                rule_id=p.rule_id,
                field=p.field,
                message=secrets.redact(p.message),
                warning=p.warning,
            )
            for p in problems
        ],
    )
