"""Prometheus metrics and health endpoints: the bridge's exposition, probes and a prefork worker."""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner
from confluent_kafka import Consumer, Producer, TopicPartition
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Metric
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from contract import metrics
from contract.celery_app import make_app
from contract.health import bridge_readiness, serve
from contract.notification import Notification, Source
from contract.settings import Settings
from contract.stats import StatsRecorder
from ingest.lag import update_lag
from ingest.queue_depth import update_queue_depth
from klaxon.status_cli import collect, render, status
from tasks.deadletters import DeadLetter, DeadLetterStore
from tasks.worker_totals import PendingTotals
from tests.conftest import Stack
from tests.support import processes
from tests.support.http_sink import Answer, HttpSink
from tests.support.servers import free_port
from tests.support.wait import wait_until

# The seed's metrics (001_936ba723dbb42527.txt): name -> (type, label names).
SEED_METRICS = {
    "alert_engine_events_consumed": ("counter", set()),
    "alert_engine_rules_matched": ("counter", {"rule_id", "priority"}),
    "alert_engine_rule_evaluation_time_seconds": ("histogram", set()),
    "alert_engine_alerts_triggered": ("counter", {"rule_id"}),
    "alert_engine_alerts_rate_limited": ("counter", {"rule_id"}),
    "alert_engine_notifications_sent": ("counter", {"channel", "rule_id"}),
    "alert_engine_notifications_failed": ("counter", {"channel", "error_type"}),
    "alert_engine_notification_send_time_seconds": ("histogram", {"channel"}),
}
# Every label Klaxon may use: bounded by the config, never an event value or a recipient.
ALLOWED_LABELS = {
    "rule_id", "priority", "channel", "error_type", "topic", "partition", "queue", "result",
    "version", "le",
}  # fmt: skip
RULE = "metrics_test_rule"


@dataclass
class Response:
    status: int
    body: str
    content_type: str


def get(port: int, path: str, accept: str | None = None) -> Response:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if accept:
        request.add_header("Accept", accept)
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return Response(answer.status, answer.read().decode(), answer.headers["Content-Type"])
    except urllib.error.HTTPError as error:
        return Response(error.code, error.read().decode(), error.headers["Content-Type"])


def sample(text: str, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return None


@pytest.fixture
def served() -> Iterator[Callable[..., int]]:
    """Start contract.health.serve on a free port; returns the port; shuts every server down."""
    started = []

    def start(ready: Callable[[], tuple[bool, str]], registry: CollectorRegistry = REGISTRY) -> int:
        server, thread = serve(0, ready, registry)
        started.append((server, thread))
        return int(server.server_address[1])

    yield start
    for server, thread in started:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_health_endpoints_answer_liveness_readiness_and_metrics(
    served: Callable[..., int],
) -> None:
    """/healthz is 200, /readyz follows the readiness function, /metrics exposes the registry."""
    registry = CollectorRegistry()
    Counter("probe_hits_total", "Hits", registry=registry).inc(3)
    state = {"ready": False, "reason": "no partitions assigned"}
    port = served(lambda: (state["ready"], state["reason"]), registry)

    health = get(port, "/healthz")
    assert (health.status, health.body) == (200, "ok\n")
    not_ready = get(port, "/readyz")
    assert (not_ready.status, not_ready.body) == (503, "no partitions assigned\n")
    state.update(ready=True, reason="ok")
    assert get(port, "/readyz").status == 200
    scraped = get(port, "/metrics")
    assert scraped.status == 200
    assert scraped.content_type.startswith("text/plain; version=0.0.4")
    assert sample(scraped.body, "probe_hits_total") == 3.0
    assert get(port, "/nowhere").status == 404


def test_readiness_check_raising_answers_503(served: Callable[..., int]) -> None:
    """A readiness function that raises gives 503 with the error, not a dropped connection."""

    def broken() -> tuple[bool, str]:
        raise RuntimeError("boom")

    answer = get(served(broken), "/readyz")
    assert answer.status == 503
    assert "boom" in answer.body


class Flaky(Collector):
    """A collector that fails its first ``failures`` collections, like a half-created file."""

    def __init__(self, failures: int) -> None:
        self.failures = failures

    def collect(self) -> Iterator[Metric]:
        if self.failures > 0:
            self.failures -= 1
            raise struct.error("unpack_from requires a buffer of at least 4 bytes")
        yield GaugeMetricFamily("flaky_value", "A value", value=1.0)


def test_metrics_retries_a_failed_collection_then_answers_500(served: Callable[..., int]) -> None:
    """A collection failing once is retried; one that keeps failing gives a 500, not a hang-up."""
    once = CollectorRegistry()
    once.register(Flaky(failures=1))
    answer = get(served(lambda: (True, "ok"), once), "/metrics")
    assert (answer.status, sample(answer.body, "flaky_value")) == (200, 1.0)
    always = CollectorRegistry()
    always.register(Flaky(failures=10**6))
    answer = get(served(lambda: (True, "ok"), always), "/metrics")
    assert answer.status == 500
    assert "unpack_from" in answer.body


@dataclass
class Assigned:
    """Stands in for the bridge: only its partition set matters to readiness."""

    assigned: set[tuple[str, int]] = field(default_factory=set)


def test_bridge_readiness_needs_partitions_and_a_redis_that_answers(redis_url: str) -> None:
    """Not ready without partitions, nor with a Redis that does not answer; ready with both."""
    bridge = Assigned()
    ready = bridge_readiness(bridge, redis.Redis.from_url(redis_url))
    assert ready() == (False, "no partitions assigned")
    bridge.assigned.add(("plates", 0))
    ok, reason = ready()
    assert ok, reason

    dead_redis = redis.Redis.from_url(f"redis://127.0.0.1:{free_port()}/0")
    ok, reason = bridge_readiness(bridge, dead_redis)()
    assert not ok
    assert reason.startswith("redis unreachable: ")


def touch_bridge_metrics() -> None:
    """Give every labelled metric one series so its labels show in the exposition."""
    metrics.rules_matched.labels(RULE, "high")
    metrics.alerts_triggered.labels(RULE)
    metrics.alerts_rate_limited.labels(RULE)
    metrics.notifications_sent.labels("webhook", RULE)
    metrics.notifications_failed.labels("webhook", "server_error")
    metrics.notification_send_time.labels("webhook")
    metrics.queue_depth.labels("notify.webhook")
    metrics.dead_letters.labels("webhook")
    metrics.active_alerts.labels(RULE)


def test_bridge_exposition_has_every_seed_metric_with_its_type_and_labels(
    served: Callable[..., int],
) -> None:
    """The seed's eight metrics are exposed under their exact names, types and label names."""
    touch_bridge_metrics()
    text = get(served(lambda: (True, "ok")), "/metrics").body
    families = {family.name: family for family in text_string_to_metric_families(text)}
    for name, (kind, labels) in SEED_METRICS.items():
        assert name in families, f"{name} missing from /metrics"
        family = families[name]
        assert family.type == kind, f"{name} is a {family.type}, the seed says {kind}"
        assert family.samples, f"{name} has no samples"
        for s in family.samples:
            assert set(s.labels) - {"le"} == labels, f"{s.name} labels {sorted(s.labels)}"
    ours = [f for f in families.values() if f.name.startswith(("alert_engine_", "klaxon_"))]
    for family in ours:
        for s in family.samples:
            assert set(s.labels) <= ALLOWED_LABELS, f"{s.name} has labels {sorted(s.labels)}"
    for name in ("klaxon_queue_depth", "klaxon_dead_letters", "klaxon_active_alerts"):
        assert families[name].type == "gauge"


def test_exposition_passes_promtool_or_the_strict_openmetrics_parser(
    served: Callable[..., int],
) -> None:
    """promtool, when installed, finds no problem; else strict parsing and name lint pass."""
    touch_bridge_metrics()
    port = served(lambda: (True, "ok"))
    text = get(port, "/metrics").body
    promtool = shutil.which("promtool")
    if promtool:
        checked = subprocess.run(
            [promtool, "check", "metrics"],
            check=False,
            input=text,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
        return
    # No promtool here: the OpenMetrics parser is strict (it rejects what promtool would),
    # and the lint rules promtool applies to names and help texts are checked directly.
    openmetrics = get(port, "/metrics", accept="application/openmetrics-text; version=1.0.0")
    assert openmetrics.content_type.startswith("application/openmetrics-text")
    strict = {family.name: family for family in openmetrics_families(openmetrics.body)}
    assert set(SEED_METRICS) <= set(strict)
    for family in text_string_to_metric_families(text):
        assert re.fullmatch(r"[a-zA-Z_:][a-zA-Z0-9_:]*", family.name), family.name
        assert family.documentation.strip(), f"{family.name} has no help text"
        if family.type == "counter":
            assert all(s.name.endswith(("_total", "_created")) for s in family.samples)
        if family.type == "histogram":
            assert family.name.endswith("_seconds"), f"{family.name} lacks its unit"
            bounds = [s.labels.get("le") for s in family.samples if s.name.endswith("_bucket")]
            assert "+Inf" in bounds, f"{family.name} has no +Inf bucket"


def notification(rule_id: str, number: int) -> dict[str, object]:
    source = Source(topic="plates", partition=0, offset=number)
    return Notification(
        id=f"metrics-test-{number}-{threading.get_ident()}",
        channel="webhook",
        rule_id=rule_id,
        rule_name="Metrics test",
        priority="high",
        message=f"plate {number}",
        subject="metrics test",
        event={"plate": {"normalized_text": f"ABC{number:03d}"}},
        matched_at="2024-01-01T00:00:00Z",
        source=source,
    ).to_dict()


def start_worker(
    stack: Stack, config: Path, pool: str, concurrency: int, **extra: str
) -> tuple[processes.ManagedProcess, int, dict[str, str]]:
    port = free_port()
    env = stack.env(config, WORKER_METRICS_PORT=str(port), **extra)
    worker = processes.worker(env, stack.log_dir, pool=pool, concurrency=concurrency)
    stack.started.append(worker.start())
    worker.wait_for_log(" ready.", timeout=60)
    return worker, port, env


def metrics_config(write_config: Callable[..., Path], sink: HttpSink) -> Path:
    return write_config(
        {"webhook": {"url": sink.url("/hook"), "retry": {"backoff_seconds": 0.2}}},
        [
            {
                "id": RULE,
                "name": "Metrics test",
                "priority": "high",
                "conditions": [{"field": "plate.normalized_text", "operator": "equals",
                                "value": "ABC001"}],
                "notify": ["webhook"],
                "message_template": "plate {plate.normalized_text}",
            }
        ],
    )  # fmt: skip


def send_and_count(
    worker: processes.ManagedProcess,
    port: int,
    env: dict[str, str],
    sink: HttpSink,
    redis_client: redis.Redis,
) -> None:
    """A 500 then a 200 (sent after one retry), then a 400 (dead): all counted on /metrics."""
    assert get(port, "/healthz").status == 200
    assert get(port, "/readyz").status == 200
    app = make_app(Settings.from_env(env))

    def scraped(name: str, **labels: str) -> float | None:
        answer = get(port, "/metrics")
        assert answer.status == 200, answer.body
        return sample(answer.body, name, **labels)

    def counted(name: str, **labels: str) -> Callable[[], bool]:
        return lambda: scraped(name, **labels) == 1.0

    def explain() -> str:
        return f"/metrics:\n{get(port, '/metrics').body}\nworker log:\n{worker.log()[-3000:]}"

    sink.script("/hook", Answer(status=500))  # first attempt fails, the retry is sent
    first = notification(RULE, 1)
    app.send_task("notify.webhook", args=[first], task_id=first["id"], queue="notify.webhook")
    sent = counted("alert_engine_notifications_sent_total", channel="webhook", rule_id=RULE)
    wait_until(sent, timeout=30, message=explain)
    assert len(sink.requests("/hook")) == 2
    failed = "alert_engine_notifications_failed_total"
    assert scraped(failed, channel="webhook", error_type="server_error") == 1.0
    assert scraped("alert_engine_notification_send_time_seconds_count", channel="webhook") == 2.0

    sink.script("/hook", Answer(status=400))  # permanent: dead-lettered at once
    second = notification(RULE, 2)
    app.send_task("notify.webhook", args=[second], task_id=second["id"], queue="notify.webhook")
    wait_until(counted("klaxon_dead_letters_total", channel="webhook"), timeout=30, message=explain)
    assert scraped(failed, channel="webhook", error_type="client_error") == 1.0
    stats = {k.decode(): int(v) for k, v in redis_client.hgetall("klaxon:stats:workers").items()}
    assert stats == {"sent": 1, "failed": 2, "dead": 1}


def test_prefork_worker_serves_the_counts_of_its_children(
    stack: Stack,
    sink: HttpSink,
    write_config: Callable[..., Path],
    tmp_path: Path,
    redis_client: redis.Redis,
) -> None:
    """A prefork worker's one /metrics adds up its children: sent, a retried 500, a dead 400."""
    prom = tmp_path / "prom"
    prom.mkdir()
    (prom / "counter_999999.db").write_bytes(b"stale")  # left by an earlier run
    worker, port, env = start_worker(
        stack, metrics_config(write_config, sink), "prefork", 2, PROMETHEUS_MULTIPROC_DIR=str(prom)
    )
    assert not (prom / "counter_999999.db").exists()
    send_and_count(worker, port, env, sink, redis_client)
    # The values come from files written by the pool's children, not by the main process.
    main_pid = worker.process.pid if worker.process else -1
    files = list(prom.glob("counter_*.db"))
    assert files
    assert all(not f.stem.endswith(f"_{main_pid}") for f in files)


def pids_of(worker: processes.ManagedProcess) -> set[int]:
    """The worker's main process and its pool children."""
    assert worker.process is not None
    main = worker.process.pid
    children = Path(f"/proc/{main}/task/{main}/children").read_text().split()
    return {main, *map(int, children)}


@pytest.mark.parametrize(("pool", "concurrency"), [("threads", 4), ("prefork", 2)])
def test_worker_without_a_multiproc_dir_makes_one_and_removes_it(
    stack: Stack,
    sink: HttpSink,
    write_config: Callable[..., Path],
    redis_client: redis.Redis,
    pool: str,
    concurrency: int,
) -> None:
    """Without PROMETHEUS_MULTIPROC_DIR the worker counts the same, in a temp dir it removes."""
    config = metrics_config(write_config, sink)
    started = time.time()
    worker, port, env = start_worker(stack, config, pool, concurrency)
    send_and_count(worker, port, env, sink, redis_client)
    pids = pids_of(worker)
    # A dir left by a worker killed earlier (another test, another run) may hold files of
    # a pid this worker now reuses: only a dir made since this worker started is its own.
    made = {
        path.parent
        for path in Path(tempfile.gettempdir()).glob("klaxon-prometheus-*/*.db")
        if int(path.stem.rsplit("_", 1)[1]) in pids and path.parent.stat().st_mtime >= started - 1
    }
    assert len(made) == 1, made
    assert worker.stop(timeout=30) == 0
    assert not made.pop().exists()


def gauge(name: str, **labels: str) -> float | None:
    value = REGISTRY.get_sample_value(name, labels)
    return None if value is None else float(value)


def test_consumer_lag_follows_position_and_drops_revoked_partitions(kafka: str, topic: str) -> None:
    """Lag is the high watermark minus the position; an unassigned partition loses its series."""
    producer = Producer({"bootstrap.servers": kafka, "linger.ms": 0})
    for number in range(5):  # one record per batch: tansu's watermark is exact then
        producer.produce(topic, value=b"x%d" % number, partition=0)
        assert producer.flush(10) == 0
    consumer = Consumer(
        {"bootstrap.servers": kafka, "group.id": f"lag-{topic}", "enable.auto.commit": False}
    )
    consumer.assign([TopicPartition(topic, 0, 0)])
    try:
        read: list[object] = []
        wait_until(
            lambda: read.extend(consumer.consume(2 - len(read), timeout=0.2)) or len(read) == 2,
            message="two messages",
        )
        assigned = {(topic, 0)}

        def lag() -> float | None:
            update_lag(consumer, assigned)
            return gauge("klaxon_consumer_lag", topic=topic, partition="0")

        wait_until(lambda: lag() == 3.0, message=lambda: f"lag 3, got {lag()}")
        update_lag(consumer, set())
        assert gauge("klaxon_consumer_lag", topic=topic, partition="0") is None
    finally:
        consumer.close()
    update_lag(consumer, {(topic, 0)})  # a closed consumer: logged, never raised


def test_queue_depth_dead_letter_and_active_alert_gauges_read_redis(
    redis_url: str, redis_client: redis.Redis
) -> None:
    """Queue depths, dead letters per channel and active alerts per rule come from Redis."""
    app = make_app(Settings(redis_url=redis_url))
    for number in range(3):
        app.send_task("notify.webhook", args=[notification(RULE, number)], queue="notify.webhook")
    DeadLetterStore(redis_client).add(dead_letter("dead-1", "email"))
    redis_client.hset("klaxon:alerts:active", mapping={"a1": "hot_tank", "a2": "hot_tank"})
    update_queue_depth(redis_client, ["webhook", "email"])
    assert gauge("klaxon_active_alerts", rule_id="hot_tank") == 2.0
    assert gauge("klaxon_queue_depth", queue="notify.webhook") == 3.0
    assert gauge("klaxon_queue_depth", queue="notify.email") == 0.0
    assert gauge("klaxon_unacked_tasks") == 0.0
    assert gauge("klaxon_dead_letters", channel="email") == 1.0
    assert gauge("klaxon_dead_letters", channel="webhook") == 0.0
    redis_client.delete("klaxon:alerts:active")
    update_queue_depth(redis_client, ["webhook", "email"])
    assert gauge("klaxon_active_alerts", rule_id="hot_tank") == 0.0
    update_queue_depth(redis.Redis.from_url(f"redis://127.0.0.1:{free_port()}/0"), ["webhook"])


def dead_letter(letter_id: str, channel: str) -> DeadLetter:
    return DeadLetter(
        id=letter_id, rule_id=RULE, channel=channel, recipients_left=[], message="m",
        error="550 no such user", reason="invalid_recipient", attempts=1,
        first_failure_at=1.0, last_failure_at=2.0, notification={},
    )  # fmt: skip


def test_status_shows_bridges_workers_dead_letters_alerts_and_queues(
    redis_url: str, redis_client: redis.Redis
) -> None:
    """`klaxon status` adds up what bridges and workers published, in text and in JSON."""
    now = time.time()
    StatsRecorder(redis_client, "bridge", "host-a:1").publish(
        {"started_at": now - 3725, "events": 10, "matches": 4, "enqueued": 4, "rejected": 1}
    )
    StatsRecorder(redis_client, "bridge", "host-b:2").publish(
        {"started_at": now - 5, "events": 5, "matches": 1, "enqueued": 1, "rejected": 0}
    )
    assert 0 < redis_client.ttl("klaxon:stats:bridge:host-a:1") <= 120
    totals = PendingTotals(lambda: redis_client)  # what the workers write their totals with
    for name, amount in (("sent", 4), ("failed", 2), ("dead", 1)):
        for _ in range(amount):
            totals.add(name)
    totals.flush()
    DeadLetterStore(redis_client).add(dead_letter("dead-1", "webhook"))
    redis_client.hset("klaxon:alerts:active", mapping={"rule:a": "1", "rule:b": "1"})
    make_app(Settings(redis_url=redis_url)).send_task(
        "notify.slack", args=[notification(RULE, 1)], queue="notify.slack"
    )
    runner = CliRunner()

    as_json = runner.invoke(status, ["--json"], env={"REDIS_URL": redis_url})
    assert as_json.exit_code == 0, as_json.output
    report = json.loads(as_json.output)
    assert [b["name"] for b in report["bridges"]] == ["host-a:1", "host-b:2"]
    assert report["bridges"][0]["uptime_seconds"] >= 3725
    assert {k: report[k] for k in ("events", "matches", "enqueued", "rejected")} == {
        "events": 15, "matches": 5, "enqueued": 5, "rejected": 1}  # fmt: skip
    assert {k: report[k] for k in ("sent", "failed", "dead")} == {"sent": 4, "failed": 2, "dead": 1}
    assert (report["dead_letters"], report["active_alerts"]) == (1, 2)
    assert report["queues"]["notify.slack"] == 1
    assert report["queues"]["notify.webhook"] == 0

    text = runner.invoke(status, [], env={"REDIS_URL": redis_url})
    assert text.exit_code == 0, text.output
    assert "events consumed: 15" in text.output
    # The uptime, read at a clock of our choosing.
    assert "1h 02m 05s" in render(collect(redis_client, now=now), now=now)
    assert "active alerts:   2" in text.output

    down = runner.invoke(status, [], env={"REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})
    assert down.exit_code == 1
    assert "redis unreachable" in down.output
