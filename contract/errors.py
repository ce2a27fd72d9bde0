"""Errors of the bridge.

BridgeError
 ├── DecodeError        this message is bad: dead-letter it and move on (docs/design.md, 4)
 └── DependencyDown     Redis or the Schema Registry is unreachable: retry, never skip
"""

from __future__ import annotations

import redis
from confluent_kafka import KafkaException
from kombu.exceptions import OperationalError


class BridgeError(Exception):
    """Base of the bridge's own errors."""


class DecodeError(BridgeError):
    """The bytes of one message cannot be turned into an event; ``reason`` says why."""


class DependencyDown(BridgeError):
    """A service the bridge needs did not answer; the batch in hand is retried."""


# Failures of a dependency (Redis, the broker, the Schema Registry): the batch in hand is
# retried as a whole, never skipped, and never blamed on one event.
DEPENDENCY_ERRORS: tuple[type[Exception], ...] = (
    redis.RedisError,
    OperationalError,
    DependencyDown,
    KafkaException,
)
