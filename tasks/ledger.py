"""The sent-ledger in Redis: what was sent, to whom, and who is sending right now.

Invariant 2 of docs/design.md (nothing is sent twice) rests on three keys per notification id:
- ``sent``: set once the whole notification was delivered; a duplicate task returns early.
- ``recipients``: the recipients that accepted it, so a retry sends only to the rest.
- ``lease``: a short ``SET NX PX`` lock so two workers never send the same id at once
  (a replayed duplicate and its original can be in two queues' hands at the same moment).

A send costs two Redis round trips, each one Lua call: ``claim`` ("sent already? else take
the lease, else how long is it held") before it and ``mark_done`` ("mark sent, keep the
recipients as long, release our lease") after it (docs/performance.md).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from enum import Enum

import redis

from contract.redis_replies import texts

KEY_PREFIX = "klaxon:sent"
# Longer than any replay window: a replay after this long would send again.
SENT_TTL_SECONDS = 7 * 24 * 3600
# The default send lease: longer than the slowest send (channel timeouts are ~10 s), and
# no longer than the broker's visibility timeout (contract.celery_app), so that the lease of
# a worker killed mid-send has expired by the time kombu hands its message to another
# worker. Workers pass Settings.lease_seconds (KLAXON_LEASE_SECONDS; tests that kill a worker
# mid-send use a few seconds).
LEASE_SECONDS = 60


class Claim(Enum):
    """What ``RedisLedger.claim`` found."""

    SENT = "sent"  # the id was delivered already: nothing to do
    TAKEN = "taken"  # the lease is ours: send
    BUSY = "busy"  # another worker holds the lease


@dataclass(frozen=True)
class ClaimResult:
    claim: Claim
    # With BUSY: seconds until the other worker's lease expires (None if it has no expiry).
    lease_left: float | None = None


class _Lua:
    """A Lua script run by its SHA (EVALSHA), loaded again if Redis forgot it."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()  # noqa: S324 - Redis's script id

    def __call__(self, client: redis.Redis, keys: list[str], args: list[str | int]) -> object:
        try:
            return client.evalsha(self.sha, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:
            return client.eval(self.source, len(keys), *keys, *args)


# KEYS: sent, lease. ARGV: token, lease ms. Reply: "sent", "taken", else the lease's PTTL.
_CLAIM = _Lua(
    "if redis.call('EXISTS', KEYS[1]) == 1 then return 'sent' end "
    "if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return 'taken' end "
    "return redis.call('PTTL', KEYS[2])"
)
# KEYS: sent, recipients, lease. ARGV: token, ttl seconds. Deletes only our own lease: after
# a stall longer than the lease another worker may hold it now.
_MARK_DONE = _Lua(
    "redis.call('SET', KEYS[1], '1', 'EX', ARGV[2]) "
    "redis.call('EXPIRE', KEYS[2], ARGV[2]) "
    "if redis.call('GET', KEYS[3]) == ARGV[1] then redis.call('DEL', KEYS[3]) end "
    "return 1"
)
_RELEASE = _Lua(
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
)


class RedisLedger:
    """The ledger of one notification id."""

    def __init__(
        self, client: redis.Redis, notification_id: str, lease_seconds: int = LEASE_SECONDS
    ) -> None:
        self.client = client
        self.id = notification_id
        self._sent_key = f"{KEY_PREFIX}:{notification_id}"
        self._recipients_key = f"{KEY_PREFIX}:{notification_id}:recipients"
        self._lease_key = f"{KEY_PREFIX}:{notification_id}:lease"
        self._token = secrets.token_hex(8)
        self.lease_seconds = lease_seconds

    def is_sent(self) -> bool:
        return bool(self.client.exists(self._sent_key))

    def acquire_lease(self, seconds: int | None = None) -> bool:
        ttl = self.lease_seconds if seconds is None else seconds
        return bool(self.client.set(self._lease_key, self._token, nx=True, ex=ttl))

    def claim(self) -> ClaimResult:
        """In one round trip: SENT if the id was delivered, else TAKEN if we got the lease,
        else BUSY with the seconds the other worker's lease has left."""
        keys = [self._sent_key, self._lease_key]
        reply = _CLAIM(self.client, keys, [self._token, self.lease_seconds * 1000])
        if reply == b"sent":
            return ClaimResult(Claim.SENT)
        if reply == b"taken":
            return ClaimResult(Claim.TAKEN)
        millis = reply if isinstance(reply, int) else -1
        return ClaimResult(Claim.BUSY, millis / 1000 if millis >= 0 else None)

    def release_lease(self) -> None:
        """Give our lease back (a failed send); another worker's lease is left alone."""
        _RELEASE(self.client, [self._lease_key], [self._token])

    def mark_done(self) -> None:
        """Mark the id sent and release our lease, in one round trip."""
        keys = [self._sent_key, self._recipients_key, self._lease_key]
        _MARK_DONE(self.client, keys, [self._token, SENT_TTL_SECONDS])

    # RecipientLedger protocol, used by multi-recipient channels.
    def already_sent(self, recipient: str) -> bool:
        return bool(self.client.sismember(self._recipients_key, recipient))

    def mark_sent(self, recipient: str) -> None:
        pipe = self.client.pipeline()
        pipe.sadd(self._recipients_key, recipient)
        pipe.expire(self._recipients_key, SENT_TTL_SECONDS)
        pipe.execute()

    def sent_recipients(self) -> set[str]:
        return set(texts(self.client.smembers(self._recipients_key)))
