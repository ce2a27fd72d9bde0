"""Notifications/s of one worker against a webhook that answers in 100 ms.

    .venv/bin/python -m bench.workers [--seconds 4] [--runs 3] [--latency 0.1]
        [--configs prefork:1,prefork:2,prefork:4,threads:4,threads:16,threads:32]

A real ``celery worker`` subprocess per configuration (``tests.support.processes``), the
webhook channel pointing at an ``HttpSink`` whose handler answers after ``--latency``
(TCP_NODELAY, see ``bench._common.sink``). Each run puts ``concurrency / latency *
seconds`` tasks on the queue at once (``PipelinedPublisher``) and times them from the
publish until the last answer; the ideal is ``concurrency / latency`` notifications/s.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from pathlib import Path

import redis

from bench._common import CpuMeter, environment, header, median, sink, table
from contract.celery_app import make_app
from contract.fast_publisher import PipelinedPublisher
from contract.notification import Notification, Source
from contract.settings import Settings
from tests.support import processes
from tests.support.http_sink import Answer, Received
from tests.support.kafka import plate_event
from tests.support.wait import wait_until

CONFIGS = "prefork:1,prefork:2,prefork:4,threads:4,threads:16,threads:32"


def write_config(path: Path, url: str) -> Path:
    path.write_text(
        "notifications:\n"
        f"  webhook: {{url: '{url}', timeout_seconds: 10}}\n"
        "rules:\n"
        "  - id: any\n"
        "    name: Any\n"
        "    conditions: [{field: camera_id, operator: exists, value: true}]\n"
        "    notify: [webhook]\n"
        "    message_template: '{camera_id}'\n"
    )
    return path


def batch(count: int) -> list[Notification]:
    run = uuid.uuid4().hex[:8]
    return [
        Notification(
            id=str(uuid.uuid4()),
            channel="webhook",
            rule_id="any",
            rule_name="Any",
            priority="low",
            message=f"{run} plate {index}",
            subject="Any",
            event=plate_event("ABC123"),
            matched_at="2024-05-01T12:00:01Z",
            source=Source("bench", 0, index),
        )
        for index in range(count)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="ideal duration of a run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--latency", type=float, default=0.1, help="webhook answer delay")
    parser.add_argument("--configs", default=CONFIGS)
    options = parser.parse_args()
    configs = [(c.split(":")[0], int(c.split(":")[1])) for c in options.configs.split(",")]
    header("workers", latency=options.latency, seconds=options.seconds, runs=options.runs)

    def slow(_request: Received) -> Answer:
        return Answer(delay=options.latency)

    receiver = sink(slow)
    rows = []
    try:
        with environment() as env, tempfile.TemporaryDirectory() as workdir:
            config = write_config(Path(workdir) / "rules.yaml", receiver.url("/hook"))
            base = {"REDIS_URL": env.redis_url, "RULES_CONFIG_PATH": str(config)}
            client = redis.Redis.from_url(env.redis_url)
            publisher = PipelinedPublisher(make_app(Settings(redis_url=env.redis_url)), client)
            for pool, concurrency in configs:
                worker = processes.worker(base, Path(workdir), "notify.webhook", pool, concurrency)
                worker.start()
                try:
                    worker.wait_for_log(" ready.", timeout=60)
                    assert worker.process is not None
                    meter = CpuMeter({"worker": worker.process.pid})
                    ideal = concurrency / options.latency
                    count = max(2 * concurrency, round(ideal * options.seconds))
                    rates, cpu = [], []
                    for _ in range(options.runs):
                        items = batch(count)
                        before_cpu, seen = meter.snapshot(), len(receiver.requests())
                        started = time.time()
                        publisher.publish(items)

                        def all_answered(seen: int = seen, count: int = count) -> bool:
                            return len(receiver.requests()) - seen >= count

                        wait_until(
                            all_answered,
                            timeout=60 + 3 * count / ideal,
                            interval=0.02,
                        )
                        last = max(r.at for r in receiver.requests()[seen:])
                        wait_until(
                            lambda: (
                                client.llen("notify.webhook") == 0 and client.hlen("unacked") == 0
                            ),
                            timeout=30,
                        )
                        rates.append(count / (last + options.latency - started))
                        spent = CpuMeter.spent(before_cpu, meter.snapshot())["worker"]
                        cpu.append(spent * 1000 / count)
                    rate = median(rates)
                    rows.append(
                        (
                            f"{pool} -c {concurrency}",
                            ideal,
                            rate,
                            f"{rate / ideal:.0%}",
                            " ".join(f"{r:.0f}" for r in rates),
                            median(cpu),
                        )
                    )
                    print(
                        f"{pool:8s} -c {concurrency:<3} {rate:7.1f}/s of ideal {ideal:.0f}/s "
                        f"({rate / ideal:.0%}), runs {[round(r, 1) for r in rates]}",
                        flush=True,
                    )
                finally:
                    worker.kill()
    finally:
        receiver.close()

    print()
    print(
        table(
            [
                "worker",
                "ideal/s",
                "notifications/s (median)",
                "of ideal",
                "runs",
                "worker CPU ms/notification",
            ],
            rows,
        )
    )
    print("\ntarget: >= 80% of concurrency / latency")


if __name__ == "__main__":
    main()
