"""The delayed set on a real Redis: due messages move back to their lists, others stay."""

from __future__ import annotations

import pytest
import redis

from tasks.delayed import DELAYED_KEY, DelayedSet


def test_release_moves_only_due_messages_to_the_end_a_worker_takes_next(
    redis_client: redis.Redis,
) -> None:
    """Due messages go to their own list's BRPOP end; later ones stay parked."""
    delayed = DelayedSet(redis_client)
    redis_client.lpush("notify.webhook", '{"queued": "earlier"}')
    delayed.park("notify.webhook", '{"n": 1}', due=100.0)
    delayed.park("notify.sms", '{"n": 2}', due=150.0)
    delayed.park("notify.webhook", '{"n": 3}', due=300.0)

    assert delayed.release(now=99.0) == 0
    assert delayed.release(now=200.0) == 2
    # RPUSH: the retry is what BRPOP (the right end) hands out next.
    assert redis_client.rpop("notify.webhook") == b'{"n": 1}'
    assert redis_client.rpop("notify.webhook") == b'{"queued": "earlier"}'
    assert redis_client.lrange("notify.sms", 0, -1) == [b'{"n": 2}']
    assert [(p.list_key, p.message, p.due) for p in delayed.waiting()] == [
        ("notify.webhook", '{"n": 3}', 300.0)
    ]


def test_release_empties_more_than_one_batch(redis_client: redis.Redis) -> None:
    """More due messages than one script run moves are all released in one call."""
    delayed = DelayedSet(redis_client)
    for n in range(1200):
        delayed.park("notify.email", f'{{"n": {n}}}', due=float(n))
    assert delayed.release(now=5000.0) == 1200
    assert redis_client.llen("notify.email") == 1200
    assert redis_client.zcard(DELAYED_KEY) == 0


def test_a_message_with_a_raw_newline_is_refused(redis_client: redis.Redis) -> None:
    """The separator cannot appear inside a member: such a message is refused, not mangled."""
    with pytest.raises(ValueError, match=r"notify\.email"):
        DelayedSet(redis_client).park("notify.email", '{"a":\n1}', due=1.0)
    assert redis_client.zcard(DELAYED_KEY) == 0
