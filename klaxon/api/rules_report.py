"""The rules file and its validation report, as the API shows it: no setting, no secret."""

from __future__ import annotations

from pathlib import Path

from contract.redaction import SecretRegistry
from klaxon.api import schemas
from rules.config import check_config
from rules.model import Rule
from rules.stateful import ThresholdRule


def rules_report(path: Path, default_topic: str) -> schemas.Rules:
    """Check ``path`` now; problems are redacted of every secret the environment or file holds."""
    config, problems = check_config(path, default_topic=default_topic)
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
