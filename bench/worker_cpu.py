"""Worker CPU per notification beside Celery's own floor, for several code trees and pools.

    .venv/bin/python -m bench.worker_cpu [--trees .,../perf-base] [--count 1500] [--runs 3]
        [--configs prefork:2,prefork:1,threads:4,threads:16] [--latency 0.001]

CPU time, not wall time: the machine is shared, so each figure is the user+system CPU of
the worker process and its pool children (psutil) from just before the tasks are published
until the queue is drained, divided by the number of tasks. For every pool and
concurrency, each tree's worker runs in turn, run after run, so the trees share the same
machine load (``--trees``: this tree and, for "before" figures, a ``git worktree`` of an
older commit with its own ``.venv``).

Each tree's worker has a Redis database of its own (same server), so the two never take each
other's tasks. Two kinds of task, on one app per tree (that tree's ``tasks`` app plus a
``bench.noop`` task registered by a small module written to a temporary directory):

- ``notify``: ``notify.webhook`` tasks published with ``PipelinedPublisher``, delivered to
  an ``HttpSink`` answering after ``--latency``; done when every one reached the sink;
- ``noop``: the floor, Celery's own cost: a task that does nothing, with the same payload,
  the same app settings (Redis broker, late acks, task events) and the same worker flags,
  its messages built by the same publisher and pushed to its queue at once.

The worker is started as ``klaxon worker`` starts it (``-E``, mingle, gossip and
heartbeat on, log level INFO).
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import redis

from bench._common import (
    CpuMeter,
    TreeProcess,
    environment,
    header,
    median,
    sink,
    table,
    tree_python,
)
from bench.workers import batch, write_config
from contract.celery_app import make_app
from contract.fast_publisher import PipelinedPublisher, _Route
from contract.notification import Notification
from contract.settings import Settings
from tests.support.http_sink import Answer, HttpSink, Received
from tests.support.wait import wait_until

CONFIGS = "prefork:2,prefork:1,threads:4,threads:16"
NOOP_MODULE = "klaxon_bench_noop"
NOOP_QUEUE = "bench.noop"
NOOP_SOURCE = f'''"""The workers' app plus a task that does nothing: Celery's own floor."""
from tasks import app


@app.task(name="{NOOP_QUEUE}")
def noop(payload):
    return None
'''


class NoopPublisher(PipelinedPublisher):
    """Builds ``bench.noop`` task messages exactly as ``notify.webhook`` ones are built."""

    def _route(self, queue: str) -> _Route:
        return super()._route(NOOP_QUEUE)

    def push(self, items: list[Notification]) -> None:
        batch = self.batch_context()
        self.redis.lpush(NOOP_QUEUE, *[self.task_message(item, batch)[0] for item in items])


@dataclass(frozen=True)
class Variant:
    tree: Path
    db: int  # the Redis database of this tree's worker
    pool: str
    concurrency: int
    kind: str  # "notify" or "noop"

    @property
    def label(self) -> str:
        return self.tree.name


def start_worker(
    variant: Variant, env: dict[str, str], workdir: Path, profile: Path | None = None
) -> TreeProcess:
    queue = NOOP_QUEUE if variant.kind == "noop" else "notify.webhook"
    name = f"bench-{uuid.uuid4().hex[:6]}"
    argv = [
        tree_python(variant.tree),
        "-m",
        "celery",
        "-A",
        NOOP_MODULE,
        "worker",
        "-Q",
        queue,
        "-P",
        variant.pool,
        "-c",
        str(variant.concurrency),
        "-n",
        f"{name}@%h",
        "-E",
        "--loglevel",
        "INFO",
    ]
    if profile is not None:  # py-spy samples the worker and its pool children (CPU only)
        out = profile / f"{variant.label}-{variant.kind}-{variant.pool}-{variant.concurrency}.txt"
        spy = Path(sys.executable).parent / "py-spy"
        argv = [
            str(spy),
            "record",
            "--subprocesses",
            "--format",
            "raw",
            "-o",
            str(out),
            "--",
            *argv,
        ]
    full_env = {**env, "PYTHONPATH": str(workdir), "WORKER_METRICS_PORT": "0"}
    worker = TreeProcess(variant.tree, name, argv, full_env, workdir)
    worker.start()
    worker.wait_for_log(" ready.", timeout=120)
    return worker


def drained(client: redis.Redis, queue: str) -> bool:
    """Nothing waiting and nothing held, seen three times in a row (kombu moves a message from
    the list to the unacked hash in two steps)."""
    for _ in range(3):
        if client.llen(queue) or client.hlen("unacked"):
            return False
        time.sleep(0.02)
    return True


def run_once(variant: Variant, worker: TreeProcess, receiver: HttpSink, count: int) -> float:
    """CPU ms per task for one batch of ``count`` tasks."""
    assert worker.process is not None
    url = worker.env["REDIS_URL"]
    client = redis.Redis.from_url(url)
    app = make_app(Settings(redis_url=url))
    meter = CpuMeter({"worker": worker.process.pid})
    items = batch(count)
    before, seen = meter.snapshot(), len(receiver.requests())
    if variant.kind == "noop":
        NoopPublisher(app, client).push(items)
        wait_until(lambda: drained(client, NOOP_QUEUE), timeout=600, interval=0.05)
    else:
        PipelinedPublisher(app, client).publish(items)
        wait_until(lambda: len(receiver.requests()) - seen >= count, timeout=600, interval=0.05)
        wait_until(lambda: drained(client, "notify.webhook"), timeout=120, interval=0.05)
    spent = CpuMeter.spent(before, meter.snapshot())["worker"]
    client.close()
    app.close()
    return spent * 1000 / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trees", default=".", help="comma-separated code trees (.venv each)")
    parser.add_argument("--configs", default=CONFIGS)
    parser.add_argument("--count", type=int, default=1500, help="tasks per run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--latency", type=float, default=0.001, help="webhook answer delay")
    parser.add_argument("--kinds", default="notify,noop")
    parser.add_argument(
        "--profile", type=Path, help="run workers under py-spy; collapsed stacks to this dir"
    )
    options = parser.parse_args()
    trees = [Path(t).resolve() for t in options.trees.split(",")]
    configs = [(c.split(":")[0], int(c.split(":")[1])) for c in options.configs.split(",")]
    kinds = options.kinds.split(",")
    header(
        "worker CPU",
        trees=[str(t) for t in trees],
        count=options.count,
        runs=options.runs,
        latency=options.latency,
    )

    def answer(_request: Received) -> Answer:
        return Answer(delay=options.latency)

    receiver = sink(answer)
    results: dict[Variant, list[float]] = {}
    try:
        with environment() as env, tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            (workdir / f"{NOOP_MODULE}.py").write_text(NOOP_SOURCE)
            config = write_config(workdir / "rules.yaml", receiver.url("/hook"))
            server = env.redis_url.rsplit("/", 1)[0]  # redis://host:port/0

            def base(db: int) -> dict[str, str]:
                return {"REDIS_URL": f"{server}/{db}", "RULES_CONFIG_PATH": str(config)}

            for pool, concurrency in configs:
                for kind in kinds:
                    variants = [
                        Variant(tree, db, pool, concurrency, kind)
                        for db, tree in enumerate(trees, start=1)
                    ]
                    workers = {
                        v: start_worker(v, base(v.db), workdir, options.profile) for v in variants
                    }
                    try:
                        for v, w in workers.items():  # warm up: imports, connections
                            run_once(v, w, receiver, 50)
                        for _ in range(options.runs):
                            for v, w in workers.items():
                                cpu = run_once(v, w, receiver, options.count)
                                results.setdefault(v, []).append(cpu)
                                print(
                                    f"{v.label:12s} {kind:6s} {pool:8s} -c {concurrency:<3} "
                                    f"{cpu:6.2f} CPU ms/task",
                                    flush=True,
                                )
                    finally:
                        for w in workers.values():
                            # SIGINT first: py-spy writes its profile when the worker exits.
                            if options.profile is not None and w.alive:
                                w.signal(signal.SIGINT)
                                with contextlib.suppress(subprocess.TimeoutExpired):
                                    w.wait(30)
                            w.kill()
    finally:
        receiver.close()

    rows = []
    for pool, concurrency in configs:
        for db, tree in enumerate(trees, start=1):
            notify = results.get(Variant(tree, db, pool, concurrency, "notify"), [])
            noop = results.get(Variant(tree, db, pool, concurrency, "noop"), [])
            ratio = median(notify) / median(noop) if notify and noop else float("nan")
            rows.append(
                (
                    tree.name,
                    f"{pool} -c {concurrency}",
                    median(notify),
                    " ".join(f"{x:.2f}" for x in notify),
                    median(noop),
                    " ".join(f"{x:.2f}" for x in noop),
                    f"{ratio:.2f}x",
                )
            )
    print()
    print(
        table(
            [
                "tree",
                "worker",
                "notification CPU ms (median)",
                "runs",
                "no-op task CPU ms (median)",
                "runs",
                "notification / floor",
            ],
            rows,
        )
    )
    print("\ntarget: notification <= 1.5x the no-op floor")


if __name__ == "__main__":
    main()
