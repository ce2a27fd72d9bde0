"""The ledger's two round trips: ``claim`` before a send and ``mark_done`` after it."""

from __future__ import annotations

import redis

from tasks.ledger import Claim, RedisLedger

ID = "5d2f6a0e-1b3c-5d4e-9f60-7a8b9c0d1e2f"


def test_claim_takes_a_free_lease_once(redis_client: redis.Redis) -> None:
    """The first claim of an unsent id takes the lease; a second ledger finds it busy."""
    assert RedisLedger(redis_client, ID).claim().claim is Claim.TAKEN

    busy = RedisLedger(redis_client, ID, lease_seconds=60).claim()

    assert busy.claim is Claim.BUSY
    assert busy.lease_left is not None and 0 < busy.lease_left <= 60


def test_claim_of_a_sent_id_is_sent_even_while_a_lease_is_held(redis_client: redis.Redis) -> None:
    """An id marked sent claims as SENT, whoever holds its lease."""
    RedisLedger(redis_client, ID).mark_done()
    assert RedisLedger(redis_client, "someone-else").acquire_lease() is True

    assert RedisLedger(redis_client, ID).claim().claim is Claim.SENT


def test_mark_done_releases_only_its_own_lease(redis_client: redis.Redis) -> None:
    """mark_done frees the lease it took, but never a lease another worker took since."""
    mine = RedisLedger(redis_client, ID)
    assert mine.claim().claim is Claim.TAKEN
    mine.mark_done()
    assert redis_client.exists(f"klaxon:sent:{ID}:lease") == 0

    other_id = "another-id"
    stale = RedisLedger(redis_client, other_id)
    assert RedisLedger(redis_client, other_id).acquire_lease() is True  # not stale's lease
    stale.mark_done()
    assert redis_client.exists(f"klaxon:sent:{other_id}:lease") == 1


def test_claim_works_after_redis_forgot_its_scripts(redis_client: redis.Redis) -> None:
    """SCRIPT FLUSH (a Redis restart) does not break claims: the script is sent again."""
    redis_client.script_flush()

    assert RedisLedger(redis_client, ID).claim().claim is Claim.TAKEN
