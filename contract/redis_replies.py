"""Typed reads of redis-py replies.

redis-py types a synchronous command's reply as "an awaitable, or anything" (one signature
for its sync and async clients), so each use would need a cast or an ignore. These helpers
check the shape once and give text: our clients never set ``decode_responses``, so
members come back as bytes.
"""

from __future__ import annotations


def text(value: object) -> str:
    """One reply value as text: bytes decoded, anything else through ``str``."""
    return value.decode() if isinstance(value, bytes) else str(value)


def texts(reply: object) -> list[str]:
    """The members of a list or set reply (ZRANGE, HKEYS, SMEMBERS...) as text, in order."""
    if not isinstance(reply, list | set | tuple):
        raise TypeError(f"expected a list or set reply from Redis, got {type(reply).__name__}")
    return [text(member) for member in reply]


def text_fields(reply: object) -> dict[str, str]:
    """A hash reply (HGETALL) as text keys and values."""
    if not isinstance(reply, dict):
        raise TypeError(f"expected a hash reply from Redis, got {type(reply).__name__}")
    return {text(key): text(value) for key, value in reply.items()}


def text_scores(reply: object) -> list[tuple[str, float]]:
    """A sorted-set reply with scores (ZRANGE ... WITHSCORES) as (member, score) pairs."""
    if not isinstance(reply, list | tuple):
        raise TypeError(f"expected a list reply from Redis, got {type(reply).__name__}")
    pairs: list[tuple[str, float]] = []
    for pair in reply:
        if not isinstance(pair, list | tuple) or len(pair) != 2 or isinstance(pair[1], bool):
            raise TypeError(f"expected (member, score) pairs from Redis, got {pair!r}")
        member, score = pair
        if not isinstance(score, int | float):  # redis-py casts scores with float()
            raise TypeError(f"expected a numeric score from Redis, got {score!r}")
        pairs.append((text(member), float(score)))
    return pairs
