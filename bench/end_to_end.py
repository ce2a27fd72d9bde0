"""Produce time -> receipt at a webhook: p50/p95/p99 at 100 and 1,000 notifications/s.

    .venv/bin/python -m bench.end_to_end [--rates 20,100,1000] [--seconds 5]
        [--bridges celery,pipelined] [--pool prefork] [--concurrency 2]

Real processes, as in production: a ``klaxon bridge`` and a ``celery worker`` subprocess
(``tests.support.processes``) against tansu and Redis, delivering to an ``HttpSink`` in
this process (TCP_NODELAY, see ``bench._common.sink``). One rule matches every event: one
webhook notification per event. Each event carries its produce time
(``attributes.produced_at``, stamped just before ``Producer.produce``); latency is the
sink's receipt time minus that. Events go out at a steady rate for ``--seconds``; the
figures cover every one of them.

Bridge variants (one after the other, same worker, same consumer group; the 1,000/s
rate, which saturates a 2-core machine, runs with the last variant only):

- ``celery``: ``klaxon bridge`` with ``KLAXON_PUBLISHER=celery`` (stock ``send_task``);
- ``pipelined``: ``klaxon bridge`` as shipped (``PipelinedPublisher``).

Both set ``KAFKA_CONSUMER_FETCH_WAIT_MAX_MS=10``: tansu answers a fetch only after
``fetch.wait.max.ms`` (500 ms by default) even when records arrive meanwhile; Kafka
answers as soon as there is data, so this makes tansu behave like Kafka here.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import redis

from bench._common import (
    CpuMeter,
    MachineMeter,
    World,
    environment,
    header,
    new_topic,
    percentile,
    producer,
    register,
    sink,
    table,
)
from contract import encoding
from rules.bounded_yaml import dump_plain
from tests.support import processes
from tests.support.http_sink import HttpSink
from tests.support.kafka import PLATE_SCHEMA
from tests.support.processes import ManagedProcess
from tests.support.servers import free_port
from tests.support.wait import wait_until

BRIDGES = ("celery", "pipelined")


def write_config(path: Path, topic: str, url: str) -> Path:
    document = {
        "notifications": {"webhook": {"url": url, "timeout_seconds": 5}},
        "rules": [
            {
                "id": "every_plate",
                "name": "Every Plate",
                "priority": "low",
                "source": topic,
                "conditions": [{"field": "camera_id", "operator": "exists", "value": True}],
                "notify": ["webhook"],
                "message_template": "{plate.normalized_text} at {camera_id}",
            }
        ],
    }
    path.write_text(dump_plain(document))
    return path


def arrived(receiver: HttpSink, marker: str) -> int:
    needle = f'"run":"{marker}"'.encode()
    return sum(needle in request.body for request in receiver.requests("/hook"))


def latencies(receiver: HttpSink, marker: str) -> list[float]:
    found = []
    for request in receiver.requests("/hook"):
        attributes = request.json()["event"].get("attributes") or {}
        if attributes.get("run") == marker:
            found.append(request.at - float(attributes["produced_at"]))
    return found


def run_rate(
    client: Any,
    receiver: HttpSink,
    topic: str,
    schema_id: int,
    rate: int,
    seconds: float,
    meter: CpuMeter | None = None,
) -> dict[str, Any]:
    marker = uuid.uuid4().hex[:8]
    cpu_before = meter.snapshot() if meter else {}
    machine = MachineMeter()
    count = max(1, int(rate * seconds))
    started = time.time()
    for index, event in enumerate(World(watchlist_size=10).events(count, seed=rate)):
        delay = started + index / rate - time.time()
        if delay > 0:
            time.sleep(delay)
        event["attributes"].update(run=marker, produced_at=repr(time.time()))
        value = encoding.registry_framed(event, PLATE_SCHEMA, schema_id)
        client.produce(topic, value=value, key=event["camera_id"].encode())
        client.poll(0)
    client.flush(30)
    produced_for = time.time() - started
    with contextlib.suppress(AssertionError):  # report what arrived
        wait_until(
            lambda: arrived(receiver, marker) >= count,
            timeout=120 + seconds,
            interval=0.2,
        )
    found = latencies(receiver, marker)
    last = max((r.at for r in receiver.requests("/hook")), default=started)
    cpu = CpuMeter.spent(cpu_before, meter.snapshot()) if meter else {}
    return {
        "busy": machine.busy_cores(),
        "bridge_cpu": cpu.get("bridge", float("nan")) * 1000 / count,
        "worker_cpu": cpu.get("worker", float("nan")) * 1000 / count,
        "rate": rate,
        "sent": count,
        "received": len(found),
        "produce_rate": count / produced_for,
        "delivered_rate": len(found) / max(last - started, 1e-9),
        "p50": percentile(found, 0.50) * 1000,
        "p95": percentile(found, 0.95) * 1000,
        "p99": percentile(found, 0.99) * 1000,
        "max": max(found, default=float("nan")) * 1000,
    }


def start_bridge(variant: str, base: dict[str, str], log_dir: Path) -> ManagedProcess:
    env = {
        **base,
        "METRICS_PORT": str(free_port()),
        "KAFKA_CONSUMER_FETCH_WAIT_MAX_MS": "10",
        "KLAXON_PUBLISHER": variant,
    }
    bridge = processes.bridge(env, log_dir)
    bridge.start()
    bridge.wait_for_log("assigned", timeout=60)
    return bridge


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rates", default="20,100,1000")
    parser.add_argument(
        "--high-rate",
        type=int,
        default=1000,
        help="run this rate with the last bridge variant only (it saturates the machine)",
    )
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--bridges", default="celery,pipelined", help=",".join(BRIDGES))
    parser.add_argument("--pool", default="prefork", choices=["threads", "prefork"])
    parser.add_argument("--concurrency", type=int, default=2)
    options = parser.parse_args()
    rates = [int(r) for r in options.rates.split(",")]
    variants = options.bridges.split(",")
    header(
        "end to end",
        rates=rates,
        seconds=options.seconds,
        bridges=variants,
        pool=options.pool,
        concurrency=options.concurrency,
    )

    receiver = sink()
    started: list[ManagedProcess] = []
    rows = []
    try:
        with environment() as env, tempfile.TemporaryDirectory() as workdir:
            topic = new_topic(env)
            schema_id = register(env, topic)
            config = write_config(Path(workdir) / "rules.yaml", topic, receiver.url("/hook"))
            base = {
                "KAFKA_BOOTSTRAP_SERVERS": env.bootstrap,
                "KAFKA_TOPIC": topic,
                "KAFKA_GROUP_ID": f"bench-{uuid.uuid4().hex[:8]}",
                "KAFKA_SESSION_TIMEOUT_MS": "2000",
                "REDIS_URL": env.redis_url,
                "SCHEMA_REGISTRY_URL": env.registry.url,
                "RULES_CONFIG_PATH": str(config),
            }
            log_dir = Path(workdir)
            worker = processes.worker(
                base, log_dir, "notify.webhook", options.pool, options.concurrency
            ).start()
            started.append(worker)
            worker.wait_for_log(" ready.", timeout=60)
            client = producer(env, **{"linger.ms": 1})
            queue = redis.Redis.from_url(env.redis_url)
            for variant in variants:
                bridge = start_bridge(variant, base, log_dir)
                started.append(bridge)
                run_rate(client, receiver, topic, schema_id, 20, 1.0)  # warm up
                assert bridge.process is not None and worker.process is not None
                meter = CpuMeter({"bridge": bridge.process.pid, "worker": worker.process.pid})
                for rate in rates:
                    if rate >= options.high_rate and variant != variants[-1]:
                        continue
                    row = {
                        "bridge": variant,
                        **run_rate(
                            client, receiver, topic, schema_id, rate, options.seconds, meter
                        ),
                    }
                    rows.append(row)
                    print(
                        f"{variant:8s} {rate:>5}/s: p50 {row['p50']:.1f} ms, "
                        f"p95 {row['p95']:.1f} ms, p99 {row['p99']:.1f} ms, delivered "
                        f"{row['delivered_rate']:.0f}/s ({row['received']}/{row['sent']})",
                        flush=True,
                    )
                    wait_until(lambda: queue.llen("notify.webhook") == 0, timeout=300)
                bridge.stop()
    finally:
        for process in reversed(started):
            process.kill()
        receiver.close()

    print()
    print(
        table(
            [
                "bridge",
                "target/s",
                "produced/s",
                "delivered/s",
                "received",
                "p50 ms",
                "p95 ms",
                "p99 ms",
                "max ms",
                "bridge CPU ms/notif",
                "worker CPU ms/notif",
                "machine busy cores",
            ],
            [
                (
                    r["bridge"],
                    r["rate"],
                    r["produce_rate"],
                    r["delivered_rate"],
                    f"{r['received']}/{r['sent']}",
                    r["p50"],
                    r["p95"],
                    r["p99"],
                    r["max"],
                    r["bridge_cpu"],
                    r["worker_cpu"],
                    r["busy"],
                )
                for r in rows
            ],
        )
    )
    print("\ntarget: p99 <= 50 ms at 100 notifications/s")


if __name__ == "__main__":
    main()
