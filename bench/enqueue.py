"""Tasks/s of putting notifications on Redis: apply_async one by one vs the publishers.

    .venv/bin/python -m bench.enqueue [--notifications 5000] [--batch 100] [--runs 3]

A 20% match rate means a bridge batch of 500 events carries ~100 notifications, so the
publishers get batches of ``--batch`` (100). Notifications are realistic: rendered by
``rules.compose`` from the bench's plate events and watchlist rule (~1.3 KB of JSON).

- ``apply_async``: the registered ``notify.webhook`` task, one ``apply_async`` per
  notification (what a naive bridge does; ``send_task`` underneath);
- ``CeleryPublisher``: ``send_task`` per notification through one acquired producer;
- ``PipelinedPublisher``: messages built in Python, one Redis pipeline per batch;
- ``raw LPUSH``: a pipeline per batch of one multi-value LPUSH of pre-built payloads of
  the same size as PipelinedPublisher's messages -- the floor for any Redis publisher.

The task-sent events (``task_send_sent_event``) are on, as in production, for all but raw.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import redis

from bench._common import World, environment, header, median, table
from contract.celery_app import make_app
from contract.fast_publisher import PipelinedPublisher
from contract.jsonsafe import jsonable
from contract.notification import Notification, Source
from contract.publisher import CeleryPublisher
from contract.queues import queue_for
from contract.settings import Settings
from rules.compose import compose
from rules.config import load_config
from tasks.notify import NotifyTask

QUEUE = queue_for("webhook")


def _never_run(self: NotifyTask, payload: dict[str, object]) -> None:
    raise AssertionError("the bench publishes only")


def notifications(count: int, workdir: str) -> list[Notification]:
    world = World()
    topic = "alpr.plates.detected"
    config = load_config(
        world.write_config(Path(workdir) / "rules.yaml", topic, "http://127.0.0.1:9/"),
        default_topic=topic,
    )
    rule = next(r for r in config.rules if r.id == "watchlist_plate")
    matched_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    built: list[Notification] = []
    for offset, event in enumerate(world.events(count, seed=int(time.time()))):
        source = Source(topic, offset % 4, offset)
        built.extend(compose(rule, rule.message_template, jsonable(event), source, matched_at))
    return built


def batches(items: Sequence[Notification], size: int) -> list[Sequence[Notification]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--notifications", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    header("enqueue", notifications=options.notifications, batch=options.batch, runs=options.runs)

    with environment() as env, tempfile.TemporaryDirectory() as workdir:
        app = make_app(Settings(redis_url=env.redis_url))
        # The notify.webhook task as tasks.notify declares it, on an app that points at the
        # bench's Redis (tasks.app_instance reads REDIS_URL once, at import).
        task = app.task(bind=True, base=NotifyTask, name=QUEUE, channel_name="webhook")(_never_run)
        client = redis.Redis.from_url(env.redis_url)
        fast = PipelinedPublisher(app, client)
        stock = CeleryPublisher(app)
        items = notifications(options.notifications, workdir)
        groups = batches(items, options.batch)

        # Payloads as large as the fast path's messages, for the raw floor.
        sample = fast.task_message(items[0], fast.batch_context())[0].encode()
        print(
            f"task message size: {len(sample):,} bytes in Redis "
            f"(notification JSON {len(str(items[0].to_dict())):,} chars)"
        )
        payloads = [b"x" * len(sample)] * len(items)

        def apply_async() -> None:
            for notification in items:
                task.apply_async(
                    args=[notification.to_dict()], task_id=notification.id, queue=QUEUE
                )

        def celery_publisher() -> None:
            for group in groups:
                stock.publish(group)

        def pipelined_publisher() -> None:
            for group in groups:
                fast.publish(group)

        def raw_lpush() -> None:
            for start in range(0, len(payloads), options.batch):
                pipe = client.pipeline(transaction=False)
                pipe.lpush(QUEUE, *payloads[start : start + options.batch])
                pipe.execute()

        variants: dict[str, Callable[[], None]] = {
            "apply_async one by one": apply_async,
            "CeleryPublisher": celery_publisher,
            "PipelinedPublisher": pipelined_publisher,
            "raw pipelined LPUSH": raw_lpush,
        }
        rates: dict[str, list[float]] = {name: [] for name in variants}
        cpu: dict[str, list[float]] = {name: [] for name in variants}
        for run in range(1, options.runs + 1):
            for name, publish in variants.items():
                client.delete(QUEUE)
                started, cpu_started = time.perf_counter(), time.process_time()
                publish()
                seconds = time.perf_counter() - started
                cpu_us = (time.process_time() - cpu_started) * 1e6 / len(items)
                stored = client.llen(QUEUE)
                assert stored == len(items), f"{name}: {stored} of {len(items)} stored"
                rates[name].append(len(items) / seconds)
                cpu[name].append(cpu_us)
                print(
                    f"run {run} {name:24s} {len(items) / seconds:>9,.0f} tasks/s, "
                    f"{cpu_us:7.1f} us CPU/task (this process)",
                    flush=True,
                )
            client.delete(QUEUE)
        client.close()

    base, base_cpu = rates["apply_async one by one"], cpu["apply_async one by one"]
    print()
    print(
        table(
            [
                "variant",
                "tasks/s (median)",
                "wall us/task",
                "x apply_async, wall (median of run ratios)",
                "CPU us/task",
                "x apply_async, CPU",
            ],
            [
                (
                    name,
                    median(values),
                    1e6 / median(values),
                    f"{median([v / b for v, b in zip(values, base, strict=True)]):.1f}x",
                    median(cpu[name]),
                    f"{median([b / c for c, b in zip(cpu[name], base_cpu, strict=True)]):.1f}x",
                )
                for name, values in rates.items()
            ],
        )
    )
    print(
        "\ntarget: PipelinedPublisher >= 10x apply_async one by one. Both are CPU-bound in "
        "this process;\nthe CPU ratio moves less than the wall-clock one when other work "
        "shares the cores."
    )


if __name__ == "__main__":
    main()
