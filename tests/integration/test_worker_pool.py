"""`klaxon worker`'s default pool: threads, overridable, delivering each notification once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import redis

from contract.celery_app import make_app
from contract.fast_publisher import PipelinedPublisher
from contract.settings import Settings
from tests.conftest import Stack
from tests.support.http_sink import HttpSink
from tests.support.ledger import sample_notification
from tests.support.wait import wait_until


def webhook_config(write_config: Callable[..., Path], sink: HttpSink) -> Path:
    return write_config({"webhook": {"url": sink.url("/hook"), "timeout_seconds": 5}}, [])


def test_klaxon_worker_runs_eight_threads_and_sends_each_notification_once(
    stack: Stack,
    sink: HttpSink,
    write_config: Callable[..., Path],
    redis_url: str,
    redis_client: redis.Redis,
) -> None:
    """The default worker is a pool of 8 threads; 40 distinct tasks reach the sink once each."""
    config = webhook_config(write_config, sink)
    worker = stack.process(config, "worker", "-Q", "notify.webhook")
    worker.wait_for_log(" ready.", timeout=60)
    assert "concurrency: 8 (thread)" in worker.log()

    items = [sample_notification("webhook", id=f"pool-{index:04d}") for index in range(40)]
    PipelinedPublisher(make_app(Settings(redis_url=redis_url)), redis_client).publish(items)

    wait_until(lambda: len(sink.requests("/hook")) >= 40, timeout=60)
    wait_until(lambda: redis_client.hlen("unacked") == 0, timeout=30)
    keys = sorted(str(r.header("Idempotency-Key")) for r in sink.requests("/hook"))
    assert keys == sorted(item.id for item in items)


def test_pool_options_after_klaxon_worker_replace_the_default(
    stack: Stack, sink: HttpSink, write_config: Callable[..., Path]
) -> None:
    """`klaxon worker -P prefork -c 1` starts a prefork pool of one process."""
    config = webhook_config(write_config, sink)
    worker = stack.process(config, "worker", "-Q", "notify.webhook", "-P", "prefork", "-c", "1")
    worker.wait_for_log(" ready.", timeout=60)
    assert "concurrency: 1 (prefork)" in worker.log()
