"""The sent-ledger in Redis: what was sent, to whom, and who is sending right now.

Invariant 2 of docs/design.md (nothing is sent twice) rests on three keys per notification id:
- ``sent``: set once the whole notification was delivered; a duplicate task returns early.
- ``recipients``: the recipients that accepted it, so a retry sends only to the rest.
- ``lease``: a short ``SET NX PX`` lock so two workers never send the same id at once
  (a replayed duplicate and its original can be in two queues' hands at the same moment).
"""

from __future__ import annotations

import secrets

import redis

KEY_PREFIX = "klaxon:sent"
# Longer than any replay window: a replay after this long would send again.
SENT_TTL_SECONDS = 7 * 24 * 3600
# The default send lease: longer than the slowest send (channel timeouts are ~10 s), and
# no longer than the broker's visibility timeout (contract.celery_app), so that the lease of
# a worker killed mid-send has expired by the time kombu hands its message to another
# worker. Workers pass Settings.lease_seconds (KLAXON_LEASE_SECONDS; tests that kill a worker
# mid-send use a few seconds).
LEASE_SECONDS = 60


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

    def lease_left(self) -> float | None:
        """Seconds until the current lease (anyone's) expires; None if there is none."""
        millis = int(self.client.pttl(self._lease_key))
        return millis / 1000 if millis >= 0 else None

    def release_lease(self) -> None:
        # Delete only our own lease: after a stall longer than the lease another worker
        # may hold it now.
        self.client.eval(
            "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end"
            " return 0",
            1,
            self._lease_key,
            self._token,
        )

    def mark_done(self) -> None:
        pipe = self.client.pipeline()
        pipe.set(self._sent_key, "1", ex=SENT_TTL_SECONDS)
        pipe.expire(self._recipients_key, SENT_TTL_SECONDS)
        pipe.execute()

    # RecipientLedger protocol, used by multi-recipient channels.
    def already_sent(self, recipient: str) -> bool:
        return bool(self.client.sismember(self._recipients_key, recipient))

    def mark_sent(self, recipient: str) -> None:
        pipe = self.client.pipeline()
        pipe.sadd(self._recipients_key, recipient)
        pipe.expire(self._recipients_key, SENT_TTL_SECONDS)
        pipe.execute()

    def sent_recipients(self) -> set[str]:
        return {m.decode() for m in self.client.smembers(self._recipients_key)}  # type: ignore[union-attr]
