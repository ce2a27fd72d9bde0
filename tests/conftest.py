"""Shared fixtures: real Redis, a real Kafka-protocol broker, a Schema Registry double,
HTTP sinks, and factories for Klaxon worker and bridge processes."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.support import processes, servers, yamlfile
from tests.support.http_sink import HttpSink
from tests.support.kafka import create_topics
from tests.support.processes import ManagedProcess
from tests.support.schema_registry import SchemaRegistryDouble


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with servers.redis_url() as url:
        yield url


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture(scope="session")
def kafka() -> Iterator[str]:
    with servers.tansu_broker() as bootstrap:
        yield bootstrap


@pytest.fixture(scope="session")
def registry() -> Iterator[SchemaRegistryDouble]:
    double = SchemaRegistryDouble()
    yield double
    double.close()


@pytest.fixture
def sink() -> Iterator[HttpSink]:
    server = HttpSink()
    yield server
    server.close()


@pytest.fixture
def topic(kafka: str) -> str:
    """A new 4-partition topic for this test alone."""
    name = f"plates-{uuid.uuid4().hex[:10]}"
    create_topics(kafka, name)
    return name


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    """Write a rules file with the given notifications and rules; returns its path."""

    def write(notifications: dict[str, Any], rules: list[dict[str, Any]], **extra: Any) -> Path:
        path = tmp_path / f"rules-{uuid.uuid4().hex[:6]}.yaml"
        path.write_text(yamlfile.dump({"notifications": notifications, "rules": rules, **extra}))
        return path

    return write


class Stack:
    """Starts Klaxon processes against the session's Kafka and Redis; stops them all after."""

    def __init__(self, tmp_path: Path, kafka: str, redis_url: str, registry_url: str) -> None:
        self.log_dir = tmp_path
        self.group = f"klaxon-{uuid.uuid4().hex[:8]}"
        self.base_env = {
            "KAFKA_BOOTSTRAP_SERVERS": kafka,
            "KAFKA_GROUP_ID": self.group,
            "KAFKA_SESSION_TIMEOUT_MS": "2000",
            # tansu answers a fetch only after fetch.wait.max.ms (500 ms by default) even
            # with data ready; Kafka answers at once. Keep test latency near Kafka's.
            "KAFKA_CONSUMER_FETCH_WAIT_MAX_MS": "10",
            "REDIS_URL": redis_url,
            "SCHEMA_REGISTRY_URL": registry_url,
        }
        self.started: list[ManagedProcess] = []

    def env(self, config: Path, **extra: str) -> dict[str, str]:
        """A process's environment; each gets metrics ports of its own (tests run side by side)."""
        return {
            **self.base_env,
            "RULES_CONFIG_PATH": str(config),
            "METRICS_PORT": str(servers.free_port()),
            "WORKER_METRICS_PORT": str(servers.free_port()),
            **extra,
        }

    def worker(
        self,
        config: Path,
        queues: str = "notify.webhook",
        pool: str = "threads",
        concurrency: int = 4,
        **extra: str,
    ) -> ManagedProcess:
        process = processes.worker(
            self.env(config, **extra), self.log_dir, queues, pool=pool, concurrency=concurrency
        ).start()
        self.started.append(process)
        process.wait_for_log(" ready.", timeout=60)
        return process

    def bridge(self, config: Path, *args: str, wait: bool = True, **extra: str) -> ManagedProcess:
        process = processes.bridge(self.env(config, **extra), self.log_dir, *args).start()
        self.started.append(process)
        if wait:
            process.wait_for_log("assigned", timeout=60)
        return process

    def process(self, config: Path, *args: str, **extra: str) -> ManagedProcess:
        """Any ``klaxon`` subcommand as a managed process (beat, flower, ...)."""
        argv = [sys.executable, "-m", "klaxon", *args]
        process = ManagedProcess(f"klaxon-{args[0]}", argv, self.env(config, **extra), self.log_dir)
        self.started.append(process.start())
        return process

    def close(self) -> None:
        for process in reversed(self.started):
            process.kill()


@pytest.fixture
def stack(
    tmp_path: Path,
    kafka: str,
    redis_client: redis.Redis,
    redis_url: str,
    registry: SchemaRegistryDouble,
) -> Iterator[Stack]:
    running = Stack(tmp_path, kafka, redis_url, registry.url)
    yield running
    running.close()
