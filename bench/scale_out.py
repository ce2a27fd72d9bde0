"""Two bridges in one consumer group against one: events/s until every offset is committed.

    .venv/bin/python -m bench.scale_out [--events 100000] [--runs 2] [--publisher pipelined]

``klaxon bridge`` subprocesses (``tests.support.processes``) with the bench's 100 rules
(~1% of events match) on a fresh 4-partition topic and group per run. The bridges join
first (with two, the second join splits the partitions 2 + 2), then the events are
produced as fast as the client goes; the clock runs from the first produce until the
group's committed offsets reach the counted end of every partition. One and two bridges
alternate, so load from elsewhere hits both alike. ``--publisher celery`` runs the
bridges with stock ``send_task`` publishing.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from pathlib import Path

from bench._common import (
    CommitWatch,
    CpuMeter,
    Env,
    MachineMeter,
    World,
    encode,
    environment,
    header,
    median,
    new_topic,
    produce_all,
    register,
    stream,
    table,
)
from tests.support import processes
from tests.support.processes import ManagedProcess
from tests.support.servers import free_port
from tests.support.wait import wait_until


def start_bridge(publisher: str, env: dict[str, str], log_dir: Path) -> ManagedProcess:
    env = {
        **env,
        "METRICS_PORT": str(free_port()),
        "KLAXON_PUBLISHER": publisher,
        # tansu holds each fetch for fetch.wait.max.ms even with data ready (see end_to_end).
        "KAFKA_CONSUMER_FETCH_WAIT_MAX_MS": "10",
    }
    return processes.bridge(env, log_dir).start()


def run(
    env: Env,
    world: World,
    pool: list[dict[str, object]],
    count: int,
    bridges: int,
    kind: str,
    workdir: Path,
) -> tuple[float, float, float]:
    """(events/s first produce to all committed, bridge CPU ms per 1,000 events, busy cores)."""
    topic = new_topic(env, "scale")
    config = world.write_config(workdir / f"{topic}.yaml", topic, "http://127.0.0.1:9/")
    records = stream(encode(pool, register(env, topic)), count)
    group = f"bench-{uuid.uuid4().hex[:8]}"
    base = {
        "KAFKA_BOOTSTRAP_SERVERS": env.bootstrap,
        "KAFKA_TOPIC": topic,
        "KAFKA_GROUP_ID": group,
        "KAFKA_SESSION_TIMEOUT_MS": "2000",
        "REDIS_URL": env.redis_url,
        "SCHEMA_REGISTRY_URL": env.registry.url,
        "RULES_CONFIG_PATH": str(config),
    }
    started: list[ManagedProcess] = []
    try:
        for _ in range(bridges):
            bridge = start_bridge(kind, base, workdir)
            started.append(bridge)
            bridge.wait_for_log("assigned", timeout=60)
        if bridges > 1:  # the first member went through the rebalance the others caused
            wait_until(lambda: started[0].log().count("assigned") >= 2, timeout=60)
        time.sleep(0.5)
        meter = CpuMeter({f"b{i}": b.process.pid for i, b in enumerate(started) if b.process})
        cpu_before = meter.snapshot()
        machine = MachineMeter()
        begin = time.perf_counter()
        counted = produce_all(env, topic, records)
        watch = CommitWatch(env, group, topic, counted.per_partition)
        try:
            finished = watch.wait(timeout=600, interval=0.05)
        finally:
            watch.close()
        busy = machine.busy_cores()
        cpu = sum(CpuMeter.spent(cpu_before, meter.snapshot()).values())
        return counted.total / (finished - begin), cpu * 1000 / counted.total * 1000, busy
    finally:
        for bridge in started:
            bridge.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--pool", type=int, default=20_000, help="distinct events encoded")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--publisher", default="pipelined", choices=["pipelined", "celery"])
    options = parser.parse_args()
    header("scale out", events=options.events, runs=options.runs, publisher=options.publisher)
    world = World()
    pool = list(world.events(min(options.pool, options.events)))
    rates: dict[int, list[float]] = {1: [], 2: []}
    cpu: dict[int, list[float]] = {1: [], 2: []}
    busy: dict[int, list[float]] = {1: [], 2: []}
    with environment() as env, tempfile.TemporaryDirectory() as workdir:
        for index in range(options.runs):
            for bridges in (1, 2):
                rate, per_thousand, cores = run(
                    env, world, pool, options.events, bridges, options.publisher, Path(workdir)
                )
                rates[bridges].append(rate)
                cpu[bridges].append(per_thousand)
                busy[bridges].append(cores)
                print(
                    f"run {index + 1}, {bridges} bridge(s): {rate:,.0f} events/s "
                    f"(bridge CPU {per_thousand:.0f} ms per 1,000 events, machine busy "
                    f"{cores:.2f} cores)",
                    flush=True,
                )
    ratios = [two / one for one, two in zip(rates[1], rates[2], strict=True)]
    print()
    print(
        table(
            [
                "bridges",
                "events/s (median)",
                "runs",
                "bridge CPU ms / 1,000 events",
                "machine busy cores",
            ],
            [
                (
                    n,
                    median(rates[n]),
                    " ".join(f"{r:,.0f}" for r in rates[n]),
                    median(cpu[n]),
                    median(busy[n]),
                )
                for n in (1, 2)
            ],
        )
    )
    print(f"\ntwo bridges / one: {median(ratios):.2f}x (median of per-run ratios); target >= 1.7x")


if __name__ == "__main__":
    main()
