"""Whether the workers are done: the condition tests wait on before counting at the sinks."""

from __future__ import annotations

from collections.abc import Iterable

import redis


def drained(client: redis.Redis, queues: Iterable[str] = ("notify.webhook",)) -> bool:
    """Every task handed to Redis was taken and acknowledged, retries waiting included.

    kombu keeps a queue as a Redis list of its name, and a message a worker holds (running,
    or waiting for a retry countdown) in the ``unacked`` hash.
    """
    return all(client.llen(q) == 0 for q in queues) and client.hlen("unacked") == 0
