"""API latency: a page of 100 alert-history rows, with 1,000,000 rows in PostgreSQL.

    .venv/bin/python -m bench.api [--rows 1000000] [--requests 500]

The rows are made in the database (``generate_series``), one a second over ~11.6 days
across 50 rules and 1,000 devices. ``klaxon api`` runs as its own process (uvicorn) on a
free port; one keep-alive client asks ``GET /api/v1/alerts?limit=100`` at cursors spread
over the whole history (half of them filtered by rule), and the latency of each answer
(the full HTTP round trip, JSON included) is recorded.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time

import requests
from sqlalchemy import text

from bench._common import header, table
from contract.settings import PROJECT_ROOT
from history.database import make_engine
from history.queries import encode_cursor
from tests.support import servers
from tests.support.databases import postgres_url

TOKEN = "bench-read-token-0123456789"  # noqa: S105 - a throwaway server's token
T0 = 1_700_000_000.0

FILL = """
INSERT INTO alert_events (id, rule_id, device_id, kind, metric, operator, threshold_value,
    current_value, triggered_at, is_resolved, resolved_at, resolution_value, metadata)
SELECT 'bench-' || n, 'rule-' || (n % 50), 'tank-' || (n % 1000), 'threshold', 'temperature',
    '>', 82.0, 82.5, :t0 + n, n % 10 <> 0, CASE WHEN n % 10 <> 0 THEN :t0 + n + 300 END,
    CASE WHEN n % 10 <> 0 THEN 81.0 END, '{}'
FROM generate_series(1, :rows) AS n
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args()
    header("api: alert history pages", rows=args.rows, requests=args.requests)
    with servers.redis_url() as redis_url, postgres_url() as url:
        engine = make_engine(url)
        started = time.perf_counter()
        with engine.begin() as connection:
            connection.execute(text(FILL), {"t0": T0, "rows": args.rows})
            connection.execute(text("ANALYZE alert_events"))
        print(f"filled {args.rows:,} rows in {time.perf_counter() - started:.1f}s", flush=True)
        port = servers.free_port()
        env = {
            **os.environ,
            "REDIS_URL": redis_url,
            "KLAXON_DATABASE_URL": url,
            "KLAXON_API_TOKENS": f"read:{TOKEN}",
            "RULES_CONFIG_PATH": str(PROJECT_ROOT / "config" / "alert_rules.yaml"),
        }
        api = subprocess.Popen(
            [sys.executable, "-m", "klaxon", "api", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=PROJECT_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 60
            while not servers.port_open(port):
                if api.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("klaxon api did not start")
                time.sleep(0.1)
            rows = measure(port, args)
        finally:
            api.terminate()
            api.wait(20)
        engine.dispose()
    print(table(["query", "requests", "p50 ms", "p99 ms", "max ms"], rows))


def measure(port: int, args: argparse.Namespace) -> list[tuple[object, ...]]:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"
    base = f"http://127.0.0.1:{port}/api/v1/alerts"
    chooser = random.Random(7)
    results: list[tuple[object, ...]] = []
    for label, rule in (("all rules", None), ("one rule", "rule-7")):
        latencies: list[float] = []
        for _ in range(args.requests):
            params: dict[str, str | int] = {"limit": 100}
            if rule:
                params["rule_id"] = rule
            at = T0 + chooser.uniform(0, args.rows)
            params["cursor"] = encode_cursor(at, "~")
            started = time.perf_counter()
            response = session.get(base, params=params, timeout=10)
            latencies.append((time.perf_counter() - started) * 1000)
            response.raise_for_status()
            assert len(response.json()["items"]) > 0
        results.append(
            (
                label,
                len(latencies),
                f"{percentile(latencies, 0.5):.1f}",
                f"{percentile(latencies, 0.99):.1f}",
                f"{max(latencies):.1f}",
            )
        )
    return results


if __name__ == "__main__":
    main()
