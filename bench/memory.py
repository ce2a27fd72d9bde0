"""Bridge peak RSS with a 100,000-plate watchlist (against 10 and 10,000 plates).

    .venv/bin/python -m bench.memory [--events 20000] [--sizes 10,10000,100000]

A ``klaxon bridge`` subprocess per watchlist size, with the bench's other 99 rules, reads
``--events`` plate events (~1% match) until every offset is committed. Peak RSS is the
kernel's high-water mark (``VmHWM`` in ``/proc/<pid>/status``), read before the bridge is
stopped; the start-up time (process start until its partitions are assigned) shows what
loading and compiling the rules costs.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from pathlib import Path

from bench._common import (
    CommitWatch,
    Env,
    World,
    encode,
    environment,
    header,
    new_topic,
    produce_all,
    register,
    stream,
    table,
)
from tests.support import processes
from tests.support.servers import free_port


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def measure(env: Env, size: int, events: int, workdir: Path) -> dict[str, float]:
    world = World(watchlist_size=size)
    topic = new_topic(env, "memory")
    config = world.write_config(workdir / f"{topic}.yaml", topic, "http://127.0.0.1:9/")
    records = stream(encode(world.events(min(events, 20_000)), register(env, topic)), events)
    group = f"bench-{uuid.uuid4().hex[:8]}"
    bridge = processes.bridge(
        {
            "KAFKA_BOOTSTRAP_SERVERS": env.bootstrap,
            "KAFKA_TOPIC": topic,
            "KAFKA_GROUP_ID": group,
            "KAFKA_SESSION_TIMEOUT_MS": "2000",
            "REDIS_URL": env.redis_url,
            "SCHEMA_REGISTRY_URL": env.registry.url,
            "RULES_CONFIG_PATH": str(config),
            "METRICS_PORT": str(free_port()),
        },
        workdir,
    )
    started = time.perf_counter()
    bridge.start()
    try:
        bridge.wait_for_log("assigned", timeout=300)
        startup = time.perf_counter() - started
        assert bridge.process is not None
        pid = bridge.process.pid
        rss_ready = status_kib(pid, "VmRSS")
        counted = produce_all(env, topic, records)
        watch = CommitWatch(env, group, topic, counted.per_partition)
        try:
            watch.wait(timeout=600)
        finally:
            watch.close()
        return {
            "size": size,
            "config_mib": config.stat().st_size / 2**20,
            "startup": startup,
            "ready_mib": rss_ready / 1024,
            "rss_mib": status_kib(pid, "VmRSS") / 1024,
            "peak_mib": status_kib(pid, "VmHWM") / 1024,
        }
    finally:
        bridge.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--sizes", default="10,10000,100000")
    options = parser.parse_args()
    sizes = [int(s) for s in options.sizes.split(",")]
    header("bridge memory", events=options.events, watchlists=sizes)
    rows = []
    with environment() as env, tempfile.TemporaryDirectory() as workdir:
        for size in sizes:
            row = measure(env, size, options.events, Path(workdir))
            rows.append(row)
            print(
                f"watchlist {size:>7,}: peak RSS {row['peak_mib']:.1f} MiB "
                f"(start-up {row['startup']:.1f} s)",
                flush=True,
            )
    print()
    print(
        table(
            [
                "watchlist plates",
                "rules file MiB",
                "start-up s",
                "RSS when assigned MiB",
                "RSS after events MiB",
                "peak RSS MiB",
            ],
            [
                (
                    r["size"],
                    r["config_mib"],
                    r["startup"],
                    r["ready_mib"],
                    r["rss_mib"],
                    r["peak_mib"],
                )
                for r in rows
            ],
        )
    )
    if len(rows) > 1:
        first, last = rows[0], rows[-1]
        per_plate = (last["peak_mib"] - first["peak_mib"]) * 2**20 / (last["size"] - first["size"])
        print(f"\n~{per_plate:.0f} bytes of peak RSS per watchlist plate")


if __name__ == "__main__":
    main()
