"""Process settings read from the environment, named as in the seed's compose file."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from contract.durations import parse_duration

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"{name}={raw!r} is not a whole number") from None


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise SystemExit(f"{name}={raw!r} is not a number") from None


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    raw = env.get(name, "").strip() or default
    if raw not in choices:
        raise SystemExit(f"{name}={raw!r} must be one of: {', '.join(choices)}")
    return raw


# The console secret signs ack and silence links (contract.ack_links): short ones could
# be guessed offline from one link.
MIN_CONSOLE_SECRET = 32
DEFAULT_LINK_TTL = 24 * 3600.0


def _public_url(env: Mapping[str, str]) -> str:
    raw = env.get("KLAXON_PUBLIC_URL", "").strip()
    if not raw:
        return ""
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise SystemExit(
            f"KLAXON_PUBLIC_URL={raw!r} is not an http(s) URL: give the address people open "
            "the console at, such as https://klaxon.example.com"
        )
    return raw.rstrip("/")


def _console_secret(env: Mapping[str, str]) -> str:
    raw = env.get("KLAXON_CONSOLE_SECRET", "").strip()
    if raw and len(raw) < MIN_CONSOLE_SECRET:
        # The value itself is never printed: it is a secret, even a bad one.
        raise SystemExit(
            f"KLAXON_CONSOLE_SECRET is {len(raw)} characters long: it must be at least "
            f"{MIN_CONSOLE_SECRET} (for example the output of "
            "python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return raw


def _duration(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        seconds = parse_duration(raw)
    except ValueError as exc:
        raise SystemExit(f"{name}: {exc}") from None
    if seconds <= 0:
        raise SystemExit(f"{name}={raw!r} must be longer than 0s")
    return seconds


@dataclass(frozen=True)
class Settings:
    """Everything a Klaxon process reads from its environment, with the seed's defaults."""

    kafka_bootstrap_servers: str = "localhost:9092"
    kafka_topic: str = "alpr.plates.detected"
    kafka_group_id: str = "alpr-alert-engine"
    # A short session makes group joins quick on small brokers; 10 s is librdkafka's
    # lower comfort bound for production, tests set ~2000.
    kafka_session_timeout_ms: int = 10000
    schema_registry_url: str | None = None
    rules_config_path: Path = PROJECT_ROOT / "config" / "alert_rules.yaml"
    schemas_dir: Path = PROJECT_ROOT / "schemas"
    redis_url: str = "redis://localhost:6379/0"
    metrics_port: int = 8003
    dlq_suffix: str = ".dlq"
    alert_events_topic: str = "klaxon.alert-events"
    # "pipelined": protocol-2 messages built per batch, one Redis round trip (default);
    # "celery": stock send_task, one message at a time.
    publisher: str = "pipelined"
    readings_topic: str = "devices.readings"
    extra_kafka: dict[str, str] = field(default_factory=dict)
    # kombu's Redis visibility timeout: a crashed worker's message is taken again after
    # about this long (contract.celery_app, docs/operations.md).
    visibility_timeout: int = 60
    # Seconds between no-data sweeps; ``klaxon beat --interval`` overrides it.
    sweep_interval: float = 30.0
    # How long a worker holds the send lease of a notification (tasks.ledger); keep it
    # above the slowest channel timeout and no longer than the visibility timeout.
    lease_seconds: int = 60
    # A named crash point for tests (contract.faults); empty in production.
    fault: str = ""
    # The history database (history.database): empty means history.db in data_dir.
    database_url: str = ""
    data_dir: Path = Path.home() / ".local" / "share" / "klaxon"
    # klaxon recorder's /metrics and /healthz; klaxon api's port.
    recorder_port: int = 8005
    api_port: int = 8080
    # Where people reach the web console; empty: notifications carry no ack/silence links.
    public_url: str = ""
    # Signs those links (contract.ack_links); the same on the bridge, workers and API.
    console_secret: str = field(default="", repr=False)
    # How long a link works after it was sent.
    link_ttl: float = DEFAULT_LINK_TTL

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        # KAFKA_CONSUMER_<NAME> passes librdkafka properties through:
        # KAFKA_CONSUMER_SECURITY_PROTOCOL becomes security.protocol.
        extra = {
            key.removeprefix("KAFKA_CONSUMER_").lower().replace("_", "."): value
            for key, value in env.items()
            if key.startswith("KAFKA_CONSUMER_")
        }
        return cls(
            kafka_bootstrap_servers=env.get("KAFKA_BOOTSTRAP_SERVERS")
            or cls.kafka_bootstrap_servers,
            kafka_topic=env.get("KAFKA_TOPIC") or cls.kafka_topic,
            kafka_group_id=env.get("KAFKA_GROUP_ID") or cls.kafka_group_id,
            kafka_session_timeout_ms=_int(
                env, "KAFKA_SESSION_TIMEOUT_MS", cls.kafka_session_timeout_ms
            ),
            schema_registry_url=env.get("SCHEMA_REGISTRY_URL") or None,
            rules_config_path=Path(env.get("RULES_CONFIG_PATH") or cls.rules_config_path),
            schemas_dir=Path(env.get("KLAXON_SCHEMAS_DIR") or cls.schemas_dir),
            redis_url=env.get("REDIS_URL") or cls.redis_url,
            metrics_port=_int(env, "METRICS_PORT", cls.metrics_port),
            dlq_suffix=env.get("KLAXON_DLQ_SUFFIX") or cls.dlq_suffix,
            alert_events_topic=env.get("KLAXON_ALERT_EVENTS_TOPIC") or cls.alert_events_topic,
            publisher=_choice(env, "KLAXON_PUBLISHER", ("pipelined", "celery"), cls.publisher),
            readings_topic=env.get("KLAXON_READINGS_TOPIC") or cls.readings_topic,
            extra_kafka=extra,
            visibility_timeout=_int(env, "KLAXON_VISIBILITY_TIMEOUT", cls.visibility_timeout),
            sweep_interval=_float(env, "KLAXON_SWEEP_INTERVAL", cls.sweep_interval),
            lease_seconds=_int(env, "KLAXON_LEASE_SECONDS", cls.lease_seconds),
            fault=env.get("KLAXON_FAULT", ""),
            database_url=env.get("KLAXON_DATABASE_URL", "").strip(),
            data_dir=Path(env.get("KLAXON_DATA_DIR") or cls.data_dir),
            recorder_port=_int(env, "KLAXON_RECORDER_PORT", cls.recorder_port),
            api_port=_int(env, "KLAXON_API_PORT", cls.api_port),
            public_url=_public_url(env),
            console_secret=_console_secret(env),
            link_ttl=_duration(env, "KLAXON_LINK_TTL", cls.link_ttl),
        )
