"""Whether the workers are done: the condition tests wait on before counting at the sinks."""

from __future__ import annotations

from collections.abc import Iterable

import redis

from tasks.delayed import DELAYED_KEY


def drained(client: redis.Redis, queues: Iterable[str] = ("notify.webhook",)) -> bool:
    """Every task handed to Redis was taken and acknowledged, retries waiting included.

    kombu keeps a queue as a Redis list of its name and a message a worker holds (running)
    in the ``unacked`` hash; a retry waiting for its time is in the delayed set.
    """
    return (
        all(client.llen(q) == 0 for q in queues)
        and client.hlen("unacked") == 0
        and client.zcard(DELAYED_KEY) == 0
    )
