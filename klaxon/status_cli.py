"""``klaxon status``: the seed's statistics for the whole deployment, read from Redis.

Bridge counters (events, matches, enqueued) are those of the bridges running now, since
each started; worker totals (sent, failed attempts, dead-lettered) are kept across
restarts. Dead letters, active alerts and queue depths are read as they are now.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click
import redis

from alerts.muting.silences import SilenceStore
from contract.settings import Settings
from contract.stats import read_all
from klaxon.tables import table, when
from tasks.channels import CHANNELS
from tasks.deadletters import DeadLetterStore

ACTIVE_ALERTS_KEY = "klaxon:alerts:active"
BRIDGE_COUNTERS = ("events", "matches", "enqueued", "rejected")
WORKER_COUNTERS = ("sent", "failed", "dead")


def _count_members(client: redis.Redis, key: str) -> int:
    kind = client.type(key)
    kind = kind.decode() if isinstance(kind, bytes) else str(kind)
    counters = {"hash": client.hlen, "set": client.scard, "zset": client.zcard, "list": client.llen}
    count = counters.get(kind)
    return int(count(key)) if count else 0


def collect(client: redis.Redis, now: float | None = None) -> dict[str, Any]:
    """Everything ``klaxon status`` shows, as one JSON-safe dict."""
    # klaxon.cli imports this module for every command, ``klaxon worker`` included, which
    # must not import prometheus_client before PROMETHEUS_MULTIPROC_DIR is set.
    from ingest.queue_depth import queue_depths

    now = time.time() if now is None else now
    shared = read_all(client)
    bridge_fields = shared["processes"].get("bridge", {})
    bridges = []
    for name, fields in sorted(bridge_fields.items()):
        started = float(fields.get("started_at", now))
        heartbeat = float(fields.get("heartbeat", now))
        bridges.append(
            {
                "name": name,
                "uptime_seconds": round(now - started, 1),
                "last_seen_seconds_ago": round(now - heartbeat, 1),
                **{counter: int(fields.get(counter, 0)) for counter in BRIDGE_COUNTERS},
            }
        )
    totals = {
        counter: sum(int(fields.get(counter, 0)) for fields in bridge_fields.values())
        for counter in BRIDGE_COUNTERS
    }
    workers = {counter: int(shared["workers"].get(counter, 0)) for counter in WORKER_COUNTERS}
    return {
        "bridges": bridges,
        **totals,
        **workers,
        "dead_letters": DeadLetterStore(client).count(),
        "active_alerts": _count_members(client, ACTIVE_ALERTS_KEY),
        "active_silences": sum(1 for s in SilenceStore(client).all() if s.active(now)),
        "queues": queue_depths(client, sorted(CHANNELS)),
    }


def _uptime(seconds: float) -> str:
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{hours}h {minutes:02d}m {secs:02d}s"
    return f"{days}d {text}" if days else text


def render(report: dict[str, Any], now: float | None = None) -> str:
    now = time.time() if now is None else now
    lines: list[str] = []
    if report["bridges"]:
        rows = [
            (
                b["name"],
                _uptime(b["uptime_seconds"]),
                when(now - b["uptime_seconds"]),
                b["events"],
                b["matches"],
                b["enqueued"],
                b["rejected"],
                f"{b['last_seen_seconds_ago']:.0f}s ago",
            )
            for b in report["bridges"]
        ]
        headers = [
            "bridge",
            "uptime",
            "started",
            "events",
            "matches",
            "enqueued",
            "rejected",
            "last seen",
        ]
        lines += [table(headers, rows), ""]
    else:
        lines += ["no bridge running (none published statistics in the last 2 minutes)", ""]
    lines += [
        f"events consumed: {report['events']}",
        f"rules matched:   {report['matches']}",
        f"enqueued:        {report['enqueued']}",
        f"sent:            {report['sent']}",
        f"failed attempts: {report['failed']}",
        f"dead letters:    {report['dead_letters']} kept ({report['dead']} dead-lettered in total)",
        f"active alerts:   {report['active_alerts']}",
        f"silences:        {report['active_silences']} active",
        "",
        table(["queue", "depth"], sorted(report["queues"].items())),
    ]
    return "\n".join(lines)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object, for scripts.")
def status(as_json: bool) -> None:
    """Show statistics: bridges' uptime and counts, sends, failures, dead letters, queues."""
    client = redis.Redis.from_url(
        Settings.from_env().redis_url, socket_timeout=5, socket_connect_timeout=5
    )
    try:
        report = collect(client)
    except redis.RedisError as exc:
        click.echo(f"error: redis unreachable: {exc}", err=True)
        sys.exit(1)
    click.echo(json.dumps(report, indent=2) if as_json else render(report))
