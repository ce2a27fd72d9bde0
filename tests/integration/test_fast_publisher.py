"""PipelinedPublisher writes what send_task writes, and stock workers and Flower treat it so."""

from __future__ import annotations

import base64
import json
import random
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from celery import Celery
from celery.utils.saferepr import saferepr as celery_saferepr

from contract.celery_app import make_app
from contract.fast_publisher import PipelinedPublisher, notification_args, saferepr
from contract.notification import Notification, Source, notification_id
from contract.publisher import CeleryPublisher
from contract.settings import Settings
from tests.conftest import Stack
from tests.support import servers
from tests.support.http_sink import Answer, HttpSink
from tests.support.kafka import plate_event
from tests.support.processes import ManagedProcess
from tests.support.queues import drained
from tests.support.wait import stays_true, wait_until

SECRET = "Bearer s3cr3t-token-never-in-flower"


def notification(plate: str = "ABC123", offset: int = 0, **changes: Any) -> Notification:
    """A webhook notification as the bridge renders it, with a fresh deterministic id."""
    source = Source("alpr.plates.detected", 1, offset)
    base = Notification(
        id=notification_id(source.topic, source.partition, offset, "watchlist_plate", "webhook"),
        channel="webhook",
        rule_id="watchlist_plate",
        rule_name="Watchlist Plate Detected",
        priority="high",
        message=f"WATCHLIST {plate} at gate-north",
        subject=f"[HIGH] Watchlist Plate Detected: {plate}",
        event=plate_event(plate, camera="gate-north"),
        matched_at="2024-05-01T12:00:01Z",
        source=source,
    )
    return replace(base, **changes)


def unique_offset() -> int:
    return random.randrange(1, 10**9)


@pytest.fixture
def app(redis_url: str) -> Celery:
    return make_app(Settings(redis_url=redis_url))


@pytest.fixture
def events(redis_client: redis.Redis) -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """Everything published on the celeryev fanout channels since the fixture started."""
    pubsub = redis_client.pubsub()
    pubsub.psubscribe("/0.celeryev/*")
    wait_until(lambda: pubsub.get_message(timeout=0.2) is not None, message="psubscribe")
    seen: list[dict[str, Any]] = []

    def drain() -> list[dict[str, Any]]:
        while (message := pubsub.get_message(timeout=0.3)) is not None:
            if message["type"] == "pmessage":
                seen.append({"channel": message["channel"], "data": message["data"]})
        return seen

    yield drain
    pubsub.close()


def without_tag(raw: bytes) -> tuple[bytes, dict[str, Any]]:
    """The raw message with its delivery tag blanked, and the parsed message."""
    parsed = json.loads(raw)
    tag = parsed["properties"]["delivery_tag"]
    return raw.replace(tag.encode(), b"<tag>"), parsed


def webhook_config(write_config: Callable[..., Path], sink: HttpSink, **webhook: Any) -> Path:
    return write_config(
        {"webhook": {"url": sink.url("/hook"), "headers": {"Authorization": SECRET}, **webhook}},
        [
            {
                "id": "watchlist_plate",
                "name": "Watchlist Plate Detected",
                "priority": "high",
                "conditions": [
                    {"field": "plate.normalized_text", "operator": "in_list", "value": ["ABC123"]}
                ],
                "notify": ["webhook"],
                "message_template": "WATCHLIST {plate.normalized_text}",
            }
        ],
    )


# -- the message itself ------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"message": 'it\'s a "quoted" \\ message\nwith é, ☃ and\ttabs'},
        {"message": "long " * 400, "variants": {"html": "<b>long</b> " * 100}},
        {"recipients": ["a@example.com", "b@example.com"], "alert": {"value": 7.5, "n": None}},
    ],
    ids=["plain", "escapes", "argsrepr-truncated", "recipients-and-alert"],
)
def test_message_equals_what_send_task_writes(
    app: Celery,
    redis_client: redis.Redis,
    events: Callable[[], list[dict[str, Any]]],
    changes: dict[str, Any],
) -> None:
    """Queue entry, bindings and task-sent event equal send_task's except tags/clock/time."""
    item = notification(offset=unique_offset(), **changes)

    CeleryPublisher(app).publish([item])
    stock_raw = redis_client.rpop("notify.webhook")
    stock_keys = {k: redis_client.smembers(k) for k in redis_client.keys("_kombu.*")}
    if stock_keys:
        redis_client.delete(*stock_keys)
    PipelinedPublisher(app, redis_client).publish([item])
    fast_raw = redis_client.rpop("notify.webhook")
    fast_keys = {k: redis_client.smembers(k) for k in redis_client.keys("_kombu.*")}

    assert stock_raw is not None and fast_raw is not None
    stock_bytes, stock = without_tag(stock_raw)
    fast_bytes, fast = without_tag(fast_raw)
    for field in ("content-encoding", "content-type", "headers"):
        assert fast[field] == stock[field], field
    assert base64.b64decode(fast["body"]) == base64.b64decode(stock["body"])
    properties = {k: v for k, v in fast["properties"].items() if k != "delivery_tag"}
    assert properties == {k: v for k, v in stock["properties"].items() if k != "delivery_tag"}
    assert fast_bytes == stock_bytes  # byte for byte, delivery tag aside
    # The queue binding send_task declares (kombu declares once per pooled connection, so
    # an earlier test's publisher may have done it for this one's).
    member = {b"notify.webhook\x06\x16\x06\x16notify.webhook"}
    expected = {b"_kombu.binding.notify.webhook": member}
    expected[b"_kombu.binding_permanent.notify.webhook"] = member
    assert fast_keys == expected
    assert stock_keys in ({}, expected)
    if "long" in changes.get("message", ""):
        assert fast["headers"]["argsrepr"].endswith(", ...}]")  # Celery's truncation

    stock_event, fast_event = events()
    assert fast_event["channel"] == stock_event["channel"] == b"/0.celeryev/task.sent"
    stock_env, fast_env = json.loads(stock_event["data"]), json.loads(fast_event["data"])
    stock_body = json.loads(base64.b64decode(stock_env.pop("body")))
    fast_body = json.loads(base64.b64decode(fast_env.pop("body")))
    for envelope in (stock_env, fast_env):
        assert envelope["properties"].pop("delivery_tag")
    assert fast_env == stock_env
    assert fast_body["clock"] > stock_body["clock"]
    assert fast_body["timestamp"] >= stock_body["timestamp"]
    for body in (stock_body, fast_body):
        del body["clock"], body["timestamp"]
    assert fast_body == stock_body
    assert list(fast_body) == list(stock_body)


def test_a_batch_keeps_its_order_and_queues(
    app: Celery, redis_client: redis.Redis, events: Callable[[], list[dict[str, Any]]]
) -> None:
    """A mixed batch lands on each channel's queue in publish order, one event per task."""
    batch = [
        replace(notification(offset=unique_offset()), channel=channel)
        for channel in ("webhook", "slack", "webhook", "email", "webhook")
    ]
    PipelinedPublisher(app, redis_client).publish(batch)

    def ids(queue: str) -> list[str]:
        # Workers BRPOP from the tail: the tail is the first to be consumed.
        return [json.loads(m)["headers"]["id"] for m in reversed(redis_client.lrange(queue, 0, -1))]

    assert ids("notify.webhook") == [n.id for n in batch if n.channel == "webhook"]
    assert ids("notify.slack") == [batch[1].id]
    assert ids("notify.email") == [batch[3].id]
    sent = [json.loads(base64.b64decode(json.loads(e["data"])["body"])) for e in events()]
    assert [e["uuid"] for e in sent] == [n.id for n in batch]
    assert [e["clock"] for e in sent] == sorted(e["clock"] for e in sent)


def test_transaction_mode_writes_the_same(app: Celery, redis_client: redis.Redis) -> None:
    """transaction=True (MULTI/EXEC) stores the same messages."""
    item = notification(offset=unique_offset())
    PipelinedPublisher(app, redis_client, transaction=True).publish([item])
    (raw,) = redis_client.lrange("notify.webhook", 0, -1)
    assert json.loads(raw)["headers"]["id"] == item.id


def test_args_and_saferepr_match_celery() -> None:
    """notification_args equals to_dict, and the saferepr port equals Celery's on 20,000 trees."""
    item = notification(recipients=["x"], alert={"a": [1, 2.5, None, True]})
    assert notification_args(item) == item.to_dict()
    assert json.dumps(notification_args(item)) == json.dumps(item.to_dict())

    rnd = random.Random(7)
    words = ["a", "b c", "it's", "x y z", "", "  ", "many words in a row here", "'", "é\n", "\\"]

    def tree(depth: int) -> object:
        roll = rnd.random()
        if depth > 4 or roll < 0.4:
            return rnd.choice(
                [rnd.choice(words), rnd.randint(-5, 10**12), rnd.random(), True, None]
            )
        if roll < 0.7:
            keys = [*words, 1, None, True, 2.5]
            return {rnd.choice(keys): tree(depth + 1) for _ in range(rnd.randint(0, 5))}
        return [tree(depth + 1) for _ in range(rnd.randint(0, 5))]

    for _ in range(20000):
        value = tree(0)
        maxlen = rnd.choice([1, 2, 3, 5, 10, 20, 40, 80, 200, 1024])
        maxlevels = rnd.choice([0, 1, 2, 3, 4])
        assert saferepr(value, maxlen, maxlevels) == celery_saferepr(value, maxlen, maxlevels), (
            value,
            maxlen,
            maxlevels,
        )
    odd = [{"when": time.gmtime(0)[:3], "n": 1}]  # a tuple: Celery's own function answers
    assert saferepr(odd, 1024, 3) == celery_saferepr(odd, 1024, 3)


# -- stock workers -----------------------------------------------------------------------


def test_fast_published_task_is_run_by_a_stock_worker_once(
    stack: Stack,
    app: Celery,
    redis_client: redis.Redis,
    sink: HttpSink,
    write_config: Callable[..., Path],
) -> None:
    """A stock `celery worker` takes the fast-published task and POSTs it exactly once."""
    stack.worker(webhook_config(write_config, sink))
    item = notification(offset=unique_offset())

    PipelinedPublisher(app, redis_client).publish([item])

    (post,) = sink.wait_for(1, "/hook")
    assert post.header("Idempotency-Key") == item.id
    body = post.json()
    assert body["id"] == item.id
    assert body["message"] == item.message
    assert body["event"]["event_id"] == item.event["event_id"]
    wait_until(lambda: drained(redis_client), message="the task acknowledged")
    assert stays_true(lambda: len(sink.requests("/hook")) == 1, duration=1.0)


def test_fast_published_task_is_retried_with_backoff(
    stack: Stack,
    app: Celery,
    redis_client: redis.Redis,
    sink: HttpSink,
    write_config: Callable[..., Path],
) -> None:
    """500, 500, 200: three attempts, waiting the backoff (0.5 s) and then twice that."""
    config = webhook_config(write_config, sink, retry={"backoff_seconds": 0.5})
    stack.worker(config)
    sink.script("/hook", Answer(500), Answer(500))
    item = notification(offset=unique_offset())

    PipelinedPublisher(app, redis_client).publish([item])

    posts = sink.wait_for(3, "/hook", timeout=30)
    assert [p.header("Idempotency-Key") for p in posts] == [item.id] * 3
    first_gap, second_gap = posts[1].at - posts[0].at, posts[2].at - posts[1].at
    # Lower bounds only (a loaded machine adds to either gap); the second shows the doubling.
    assert first_gap >= 0.45, first_gap
    assert second_gap >= 0.95, second_gap
    wait_until(lambda: drained(redis_client), message="the task acknowledged")
    assert stays_true(lambda: len(sink.requests("/hook")) == 3, duration=1.0)


# -- Flower ------------------------------------------------------------------------------


def flower(stack: Stack, config: Path, redis_client: redis.Redis) -> str:
    """Start real Flower; return its base URL once it listens to the event channels."""
    port = servers.free_port()
    patterns_before = int(redis_client.execute_command("PUBSUB", "NUMPAT"))
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "tasks",
        "flower",
        f"--port={port}",
        "--address=127.0.0.1",
    ]
    env = stack.env(config, FLOWER_UNAUTHENTICATED_API="true")
    process = ManagedProcess(f"flower-{uuid.uuid4().hex[:6]}", argv, env, stack.log_dir).start()
    stack.started.append(process)
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        if not process.alive:
            raise AssertionError(f"flower exited:\n{process.log()[-3000:]}")
        try:
            answered = requests.get(f"{base}/healthcheck", timeout=1).status_code == 200
        except requests.RequestException:
            return False
        # Subscribed to celeryev: a task-sent published now will be seen.
        return answered and int(redis_client.execute_command("PUBSUB", "NUMPAT")) > patterns_before

    wait_until(ready, timeout=60, message="Flower up and subscribed to events")
    return base


def test_flower_shows_a_fast_published_task_like_a_send_task_one(
    stack: Stack,
    app: Celery,
    redis_client: redis.Redis,
    sink: HttpSink,
    write_config: Callable[..., Path],
) -> None:
    """Flower lists the fast-published task as SUCCESS with send_task's name, args and route."""
    config = webhook_config(write_config, sink)
    base = flower(stack, config, redis_client)
    stack.worker(config)
    fast = notification(offset=unique_offset())
    stock = replace(fast, id=str(uuid.uuid4()))  # identical but for the id

    PipelinedPublisher(app, redis_client).publish([fast])
    CeleryPublisher(app).publish([stock])

    def both_done() -> dict[str, Any] | None:
        tasks = requests.get(f"{base}/api/tasks", timeout=5).json()
        found = {key: tasks.get(n.id) for key, n in (("fast", fast), ("stock", stock))}
        if all(t and t.get("state") == "SUCCESS" for t in found.values()):
            return found
        return None

    found = wait_until(both_done, timeout=60, message="both tasks SUCCESS in Flower")
    shown_fast, shown_stock = found["fast"], found["stock"]
    assert shown_fast["name"] == shown_stock["name"] == "notify.webhook"
    assert shown_fast["args"] == shown_stock["args"].replace(stock.id, fast.id)
    assert fast.message in shown_fast["args"]
    for field in ("kwargs", "retries", "exchange", "routing_key", "eta", "expires", "result"):
        assert shown_fast[field] == shown_stock[field], field
    assert shown_fast["sent"] and shown_stock["sent"]  # Flower saw both task-sent events
    assert shown_fast["root_id"] == fast.id
    one = requests.get(f"{base}/api/task/info/{fast.id}", timeout=5).json()
    assert one["state"] == "SUCCESS" and one["name"] == "notify.webhook"
    assert "s3cr3t" not in json.dumps(one)  # secrets stay in the worker (invariant 6)
