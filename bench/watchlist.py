"""The bridge with a 1,000,000-plate hotlist, exact and fuzzy, beside the raw limit.

    .venv/bin/python -m bench.watchlist [--events 200000] [--entries 1000000] [--runs 1]

bench.bridge_throughput's world (same events, same 100 rules), with its in_list watchlist
rule replaced by ``in_watchlist`` on a CSV hotlist of ``--entries`` plates (the events'
watchlist plates among them, so the match rate stays ~1%). Two lists: ``exact``, and
``fuzzy`` (confusables plus max_distance 1). For each: the load time of the rules file
(what a reload costs), the fuzzy index's size, and per run the raw consume+decode rate
and the bridge's (PipelinedPublisher) side by side. Peak RSS is the bench process's own
(raw loop and bridge in-process), so it bounds the bridge's from above.
"""

from __future__ import annotations

import argparse
import logging
import random
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._common import (
    SYMBOLS,
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
from bench.bridge_throughput import run_bridge, run_raw, settings_for
from rules.bounded_yaml import dump_plain
from rules.config import load_config

MODES: dict[str, dict[str, Any]] = {
    "exact": {},
    "fuzzy": {"confusables": True, "max_distance": 1},
}
REASONS = ("stolen", "wanted", "unpaid fines", "amber alert", "expired registration")


def write_hotlist(path: Path, world: World, entries: int) -> None:
    """The world's watchlist plus random 7-character plates up to ``entries``."""
    rnd = random.Random(11)
    plates = set(world.watchlist)
    while len(plates) < entries:
        plates.add("".join(rnd.choice(SYMBOLS) for _ in range(7)))
    with path.open("w", encoding="utf-8") as out:
        out.write("plate,reason,priority\n")
        for index, plate in enumerate(sorted(plates)):
            out.write(f"{plate},{REASONS[index % len(REASONS)]},{index % 3}\n")


def write_config(path: Path, world: World, topic: str, hotlist: Path, mode: str) -> Path:
    rules = world.rules(topic)
    for rule in rules:
        if rule["id"] == "watchlist_plate":
            rule["conditions"] = [
                {"field": "plate", "operator": "in_watchlist", "value": "hotlist"}
            ]
            rule["rate_limit"]["dedup_key"] = "match.entry.plate"
    document = {
        "notifications": {"webhook": {"url": "http://127.0.0.1:9/", "timeout_seconds": 5}},
        "watchlists": {"hotlist": {"file": str(hotlist), **MODES[mode]}},
        "rules": rules,
    }
    path.write_text(dump_plain(document))
    return path


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--pool", type=int, default=20_000, help="distinct events encoded")
    parser.add_argument("--runs", type=int, default=1)
    options = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    header("watchlist", events=options.events, entries=options.entries, runs=options.runs)
    world = World()
    rows = []
    with environment() as env, tempfile.TemporaryDirectory() as workdir:
        hotlist = Path(workdir) / "hotlist.csv"
        write_hotlist(hotlist, world, options.entries)
        topic = new_topic(env)
        records = stream(
            encode(list(world.events(options.pool)), register(env, topic)), options.events
        )
        counted = produce_all(env, topic, records)
        print(f"produced {counted.total:,} events; hotlist {options.entries:,} plates", flush=True)
        for mode in MODES:
            config_path = write_config(Path(workdir) / f"{mode}.yaml", world, topic, hotlist, mode)
            started = time.perf_counter()
            config = load_config(config_path, default_topic=topic)
            load_seconds = time.perf_counter() - started
            index_mib = config.watchlists["hotlist"].matcher.index_bytes / 2**20
            del config
            print(f"{mode}: load {load_seconds:.1f} s, fuzzy index {index_mib:.0f} MiB", flush=True)
            raw_rates, bridge_rates = [], []
            for run in range(1, options.runs + 1):
                settings = settings_for(env, topic, config_path)
                seconds, _ = run_raw(env, settings, topic, counted.total)
                raw_rates.append(counted.total / seconds)
                settings = settings_for(env, topic, config_path)
                seconds, enqueued = run_bridge(
                    env, settings, topic, counted.per_partition, "bridge+PipelinedPublisher"
                )
                bridge_rates.append(counted.total / seconds)
                print(
                    f"run {run} {mode}: raw {raw_rates[-1]:,.0f}/s, bridge "
                    f"{bridge_rates[-1]:,.0f}/s ({enqueued:,} enqueued), "
                    f"peak RSS so far {peak_rss_mib():.0f} MiB",
                    flush=True,
                )
            ratio = median([b / r for b, r in zip(bridge_rates, raw_rates, strict=True)])
            rows.append(
                (
                    mode,
                    median(raw_rates),
                    median(bridge_rates),
                    f"{ratio:.0%}",
                    f"{load_seconds:.1f}",
                )
            )
    print()
    print(table(["list", "raw events/s", "bridge events/s", "of raw", "load s"], rows))
    print(f"peak RSS {peak_rss_mib():.0f} MiB (bench process: raw loop and bridge together)")
    print("targets: exact >= 50% of raw; fuzzy >= 40%; load <= 20 s; RSS <= 600 MiB")


if __name__ == "__main__":
    main()
