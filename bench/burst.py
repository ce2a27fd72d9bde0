"""A watchlist storm: N distinct hits produced at once, delivered by the default worker.

    .venv/bin/python -m bench.burst [--count 10000] [--runs 1] [--trees .,../perf-base]
        [--latency 0.001] [--worker-args "-P threads -c 8"]

N plate events, each a distinct plate on a watchlist rule, produced to Kafka as fast as the
producer can; the shipped ``klaxon bridge`` and the default ``klaxon worker -Q
notify.webhook`` (as the README starts it) deliver them to one ``HttpSink`` that answers
after ``--latency``. Reported per run: delivered, unique ids, duplicates, the time from the
first produce to the last delivery, p50/p99 of produce-to-receipt (each event carries its
produce time) and the CPU of the worker and the bridge per notification.

``--trees``: each code tree (its own ``.venv``) runs its bridge and worker in turn, on a
topic and a Redis database of its own, so "before" and "after" share the machine's load.
"""

from __future__ import annotations

import argparse
import contextlib
import shlex
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
import yaml

from bench._common import (
    CpuMeter,
    TreeProcess,
    World,
    environment,
    header,
    median,
    new_topic,
    percentile,
    producer,
    register,
    sink,
    table,
    tree_python,
)
from contract import encoding
from tests.support.http_sink import Answer, HttpSink, Received
from tests.support.kafka import PLATE_SCHEMA
from tests.support.servers import free_port
from tests.support.wait import wait_until


@dataclass
class Result:
    tree: str
    sent: int
    delivered: int
    unique: int
    duplicates: int
    seconds: float
    p50_ms: float
    p99_ms: float
    worker_cpu_ms: float
    bridge_cpu_ms: float


def write_config(path: Path, topic: str, url: str, plates: list[str]) -> Path:
    document = {
        "notifications": {"webhook": {"url": url, "timeout_seconds": 5}},
        "rules": [
            {
                "id": "storm",
                "name": "Storm",
                "priority": "high",
                "source": topic,
                "conditions": [
                    {"field": "plate.normalized_text", "operator": "in_list", "value": plates}
                ],
                "notify": ["webhook"],
                "message_template": "{plate.normalized_text} at {camera_id}",
            }
        ],
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def storm_events(count: int, marker: str) -> list[dict[str, Any]]:
    """``count`` events, each with a plate of its own (all of them on the watchlist)."""
    events = list(World(watchlist_size=10).events(count, seed=count))
    for index, event in enumerate(events):
        plate = f"S{index:06d}"
        event["plate"]["text"] = event["plate"]["normalized_text"] = plate
        event["attributes"]["run"] = marker
    return events


def run_tree(
    tree: Path,
    db: int,
    env: Any,
    receiver: HttpSink,
    workdir: Path,
    count: int,
    worker_args: list[str],
) -> Result:
    marker = uuid.uuid4().hex[:8]
    events = storm_events(count, marker)
    topic = new_topic(env, prefix="burst")
    schema_id = register(env, topic)
    plates = [event["plate"]["normalized_text"] for event in events]
    config = write_config(workdir / f"rules-{marker}.yaml", topic, receiver.url("/hook"), plates)
    redis_url = env.redis_url.rsplit("/", 1)[0] + f"/{db}"
    base = {
        "KAFKA_BOOTSTRAP_SERVERS": env.bootstrap,
        "KAFKA_TOPIC": topic,
        "KAFKA_GROUP_ID": f"burst-{marker}",
        "KAFKA_SESSION_TIMEOUT_MS": "2000",
        "KAFKA_CONSUMER_FETCH_WAIT_MAX_MS": "10",  # tansu holds fetches; Kafka does not
        "REDIS_URL": redis_url,
        "SCHEMA_REGISTRY_URL": env.registry.url,
        "RULES_CONFIG_PATH": str(config),
        "METRICS_PORT": str(free_port()),
        "WORKER_METRICS_PORT": str(free_port()),
    }
    python = tree_python(tree)
    worker = TreeProcess(
        tree,
        f"worker-{marker}",
        [python, "-m", "klaxon", "worker", "-Q", "notify.webhook", *worker_args],
        base,
        workdir,
    )
    bridge = TreeProcess(
        tree, f"bridge-{marker}", [python, "-m", "klaxon", "bridge"], base, workdir
    )
    started: list[TreeProcess] = []
    try:
        started.append(worker.start())
        worker.wait_for_log(" ready.", timeout=120)
        started.append(bridge.start())
        bridge.wait_for_log("assigned", timeout=120)
        assert worker.process is not None and bridge.process is not None
        meter = CpuMeter({"worker": worker.process.pid, "bridge": bridge.process.pid})
        client = producer(env)
        before = meter.snapshot()
        first = time.time()
        for event in events:
            event["attributes"]["produced_at"] = repr(time.time())
            value = encoding.registry_framed(event, PLATE_SCHEMA, schema_id)
            while True:
                try:
                    client.produce(topic, value=value, key=event["camera_id"].encode())
                    break
                except BufferError:
                    client.poll(0.01)
            client.poll(0)
        client.flush(60)

        def mine() -> list[Received]:
            needle = f'"run":"{marker}"'.encode()
            return [r for r in receiver.requests("/hook") if needle in r.body]

        def unique_ids() -> int:
            return len({r.header("Idempotency-Key") for r in mine()})

        with contextlib.suppress(AssertionError):  # report what arrived
            wait_until(lambda: unique_ids() >= count, timeout=120 + count / 20, interval=0.5)
        queue = redis.Redis.from_url(redis_url)
        with contextlib.suppress(AssertionError):  # late duplicates would arrive by now
            wait_until(
                lambda: queue.llen("notify.webhook") == 0 and queue.hlen("unacked") == 0,
                timeout=60,
                interval=0.2,
            )
        spent = CpuMeter.spent(before, meter.snapshot())
        received = mine()
        ids = [r.header("Idempotency-Key") for r in received]
        latencies = [r.at - float(r.json()["event"]["attributes"]["produced_at"]) for r in received]
        last = max((r.at for r in received), default=first)
        delivered = len(received)
        return Result(
            tree=tree.name,
            sent=count,
            delivered=delivered,
            unique=len(set(ids)),
            duplicates=delivered - len(set(ids)),
            seconds=last - first,
            p50_ms=percentile(latencies, 0.50) * 1000,
            p99_ms=percentile(latencies, 0.99) * 1000,
            worker_cpu_ms=spent["worker"] * 1000 / max(delivered, 1),
            bridge_cpu_ms=spent["bridge"] * 1000 / max(delivered, 1),
        )
    finally:
        for process in reversed(started):
            process.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--trees", default=".", help="comma-separated code trees (.venv each)")
    parser.add_argument("--latency", type=float, default=0.001, help="webhook answer delay")
    parser.add_argument("--worker-args", default="", help="extra `klaxon worker` options")
    options = parser.parse_args()
    trees = [Path(t).resolve() for t in options.trees.split(",")]
    worker_args = shlex.split(options.worker_args)
    header(
        "burst",
        count=options.count,
        runs=options.runs,
        trees=[str(t) for t in trees],
        latency=options.latency,
        worker_args=worker_args or "(default)",
    )

    def answer(_request: Received) -> Answer:
        return Answer(delay=options.latency)

    receiver = sink(answer)
    results: list[Result] = []
    try:
        with environment() as env, tempfile.TemporaryDirectory() as tmp:
            for _ in range(options.runs):
                for db, tree in enumerate(trees, start=1):
                    result = run_tree(
                        tree, db, env, receiver, Path(tmp), options.count, worker_args
                    )
                    results.append(result)
                    print(
                        f"{result.tree:12s} delivered {result.delivered}/{result.sent} "
                        f"(unique {result.unique}, duplicates {result.duplicates}) in "
                        f"{result.seconds:.1f} s; p50 {result.p50_ms:.0f} ms, "
                        f"p99 {result.p99_ms:.0f} ms",
                        flush=True,
                    )
    finally:
        receiver.close()

    print()
    print(
        table(
            [
                "tree",
                "delivered",
                "unique",
                "duplicates",
                "first produce -> last delivery s",
                "p50 ms",
                "p99 ms",
                "worker CPU ms/notif",
                "bridge CPU ms/notif",
            ],
            [
                (
                    r.tree,
                    f"{r.delivered}/{r.sent}",
                    r.unique,
                    r.duplicates,
                    r.seconds,
                    r.p50_ms,
                    r.p99_ms,
                    r.worker_cpu_ms,
                    r.bridge_cpu_ms,
                )
                for r in results
            ],
        )
    )
    for tree in trees:
        mine = [r.seconds for r in results if r.tree == tree.name]
        print(f"{tree.name}: median {median(mine):.1f} s to deliver {options.count}")
    print("\ntarget: the new tree in <= 2/3 of the old tree's time, 0 duplicates")


if __name__ == "__main__":
    main()
