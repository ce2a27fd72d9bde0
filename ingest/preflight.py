"""``klaxon bridge --config-check``: is everything the bridge needs there? (the seed's check)

Validates the rules, then connects to Kafka, Redis and the Schema Registry and checks that
every topic a rule reads exists. Each check is one line of the report.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis
import requests
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from contract.ack_links import LinkSetupError, signer_from
from contract.settings import Settings
from rules.config import check_config
from rules.engine import RuleEngine


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str

    def __str__(self) -> str:
        return f"[{'ok' if self.ok else 'FAIL'}] {self.name}: {self.detail}"


def preflight(settings: Settings, timeout: float = 5.0) -> list[Check]:
    checks: list[Check] = []
    config, problems = check_config(settings.rules_config_path, default_topic=settings.kafka_topic)
    errors = [p for p in problems if not p.warning]
    if config is None or errors:
        detail = "; ".join(str(p) for p in errors) or "cannot be read"
        checks.append(Check("rules", False, detail))
        topics: set[str] = set()
    else:
        topics = set(RuleEngine(config.rules).topics)
        checks.append(
            Check(
                "rules",
                True,
                f"{settings.rules_config_path}: {len(config.rules)} rule(s), "
                f"{len(problems)} warning(s)",
            )
        )

    try:
        admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
        metadata = admin.list_topics(timeout=timeout)
        checks.append(
            Check(
                "kafka",
                True,
                f"{settings.kafka_bootstrap_servers}: {len(metadata.brokers)} broker(s)",
            )
        )
        for topic in sorted(topics):
            found = metadata.topics.get(topic)
            if found is None or found.error is not None:
                checks.append(Check(f"topic {topic}", False, "does not exist"))
            else:
                checks.append(
                    Check(f"topic {topic}", True, f"{len(found.partitions)} partition(s)")
                )
    except KafkaException as exc:
        checks.append(Check("kafka", False, f"{settings.kafka_bootstrap_servers}: {exc}"))

    try:
        client = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=timeout)
        client.ping()
        checks.append(Check("redis", True, _masked_redis(settings.redis_url)))
    except redis.RedisError as exc:
        checks.append(Check("redis", False, f"{_masked_redis(settings.redis_url)}: {exc}"))

    if settings.schema_registry_url:
        url = settings.schema_registry_url.rstrip("/")
        try:
            response = requests.get(f"{url}/subjects", timeout=timeout)
            response.raise_for_status()
            checks.append(
                Check("schema registry", True, f"{url}: {len(response.json())} subject(s)")
            )
        except (requests.RequestException, ValueError) as exc:
            checks.append(Check("schema registry", False, f"{url}: {exc}"))
    else:
        checks.append(Check("schema registry", True, "not configured (SCHEMA_REGISTRY_URL unset)"))
    checks.append(_links(settings))
    return checks


def _links(settings: Settings) -> Check:
    """Ack and silence links: off, or signed under KLAXON_PUBLIC_URL with a secret."""
    try:
        signer = signer_from(settings)
    except LinkSetupError as exc:
        return Check("links", False, str(exc))
    if signer is None:
        return Check("links", True, "off (KLAXON_PUBLIC_URL unset)")
    hours = signer.ttl_seconds / 3600
    return Check("links", True, f"{signer.public_url}, valid {hours:g} h")


def _masked_redis(url: str) -> str:
    """The Redis URL without its password."""
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.rpartition('@')[2]}"
