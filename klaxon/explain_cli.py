"""``klaxon explain EVENT.json``: each rule's verdict on one event, condition by condition."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from contract.settings import Settings


@click.command()
@click.argument("event_file", metavar="EVENT.json", type=click.Path(path_type=Path))
@click.option("--topic", default=None, help="The event's topic (default: KAFKA_TOPIC).")
@click.option("--rule", "rule_id", default=None, help="Explain this rule only.")
@click.option(
    "--rules",
    "rules_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The rules file (default: RULES_CONFIG_PATH).",
)
@click.option(
    "--live",
    is_flag=True,
    help="Start from the cooldown and lifecycle state in REDIS_URL (read only).",
)
def explain(
    event_file: Path, topic: str | None, rule_id: str | None, rules_path: Path | None, live: bool
) -> None:
    """Why each rule on the topic matches EVENT.json or not, and what would happen next."""
    import logging

    import orjson
    import redis

    from klaxon.cli import _load_or_exit
    from klaxon.rulestest.explain import explain as explain_event

    logging.basicConfig(level=logging.ERROR)
    settings = Settings.from_env()
    path = rules_path or settings.rules_config_path
    config = _load_or_exit(path, settings)
    topic = topic or settings.kafka_topic
    try:
        event = orjson.loads(event_file.read_bytes())
    except OSError as exc:
        click.echo(f"error: {event_file}: cannot read: {exc.strerror}", err=True)
        sys.exit(2)
    except orjson.JSONDecodeError as exc:
        click.echo(f"error: {event_file}: not JSON: {exc}", err=True)
        sys.exit(2)
    if not isinstance(event, dict):
        click.echo(f"error: {event_file}: expected a JSON object, got {type(event).__name__}")
        sys.exit(2)
    on_topic = sorted(r.id for r in config.rules if r.source == topic and r.enabled)
    if not on_topic:
        topics = sorted({r.source for r in config.rules if r.enabled})
        click.echo(
            f"error: no enabled rule of {path} reads topic {topic!r} "
            f"(topics: {', '.join(topics)}; --topic)",
            err=True,
        )
        sys.exit(2)
    if rule_id is not None and rule_id not in on_topic:
        click.echo(
            f"error: --rule: no rule {rule_id!r} on topic {topic!r} in {path} "
            f"(rules there: {', '.join(on_topic)})",
            err=True,
        )
        sys.exit(2)
    client = redis.Redis.from_url(settings.redis_url) if live else None
    try:
        found = explain_event(config, settings, topic, event, rule_id, live=client)
    except redis.RedisError as exc:
        click.echo(f"error: --live: cannot read Redis at REDIS_URL: {exc}", err=True)
        sys.exit(2)
    for line in found.lines:
        click.echo(line)
