"""The bridge's last rules reload, kept in Redis for the console's rules page to show.

Each reload (SIGHUP, or a changed rules or hotlist file) overwrites one hash; with several
bridges, the last one to reload wins, and ``bridge`` says which (host and process id).

Redis layout:
    klaxon:bridge:last-reload   hash   at, ok ("1"/"0"), rules, error, path, bridge
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from contract.redis_replies import text_fields

LAST_RELOAD_KEY = "klaxon:bridge:last-reload"
# Enough for the first few errors of a broken file; the bridge's log has them all.
MAX_ERROR_CHARS = 2000


@dataclass(frozen=True)
class ReloadResult:
    at: float
    ok: bool
    rules: int  # rules the reload put to work (0 when refused: the last good ones run on)
    error: str = ""  # why it was refused, secrets already masked
    path: str = ""
    bridge: str = ""


def record_reload(client: redis.Redis, result: ReloadResult) -> None:
    client.hset(
        LAST_RELOAD_KEY,
        mapping={
            "at": repr(result.at),
            "ok": "1" if result.ok else "0",
            "rules": str(result.rules),
            "error": result.error[:MAX_ERROR_CHARS],
            "path": result.path,
            "bridge": result.bridge,
        },
    )


def last_reload(client: redis.Redis) -> ReloadResult | None:
    """The last reload recorded by any bridge; None when none has reloaded yet."""
    fields = text_fields(client.hgetall(LAST_RELOAD_KEY))
    if not fields.get("at"):
        return None
    try:
        return ReloadResult(
            at=float(fields["at"]),
            ok=fields.get("ok") == "1",
            rules=int(fields.get("rules") or 0),
            error=fields.get("error", ""),
            path=fields.get("path", ""),
            bridge=fields.get("bridge", ""),
        )
    except ValueError:  # written by hand or by another version: nothing readable
        return None
