"""The sent-ledger and ``deliver`` (docs/design.md, invariant 2): nothing is sent twice.

Written against the ledger's public behaviour (``is_sent``, ``acquire_lease``, ``mark_done``,
``already_sent``, ``mark_sent``) and ``deliver``'s result and exceptions, with a real Redis
and the real SMS channel talking to a local double of Twilio.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from contract.settings import Settings
from tasks import notify
from tasks.channels.errors import TransientError
from tasks.ledger import RedisLedger
from tasks.notify import TASKS, LeaseBusy, deliver
from tasks.runtime import WorkerRuntime
from tests.support import yamlfile
from tests.support.ledger import sample_notification
from tests.support.twilio_server import ACCOUNT_SID, AUTH_TOKEN, SERVER_ERROR, TwilioServer

ONE, TWO, THREE = "+15550000001", "+15550000002", "+15550000003"
ID = "3f0c1d2e-4b5a-5c6d-8e7f-0a1b2c3d4e5f"
PAYLOAD = sample_notification("sms", id=ID).to_dict()


@pytest.fixture(scope="module")
def twilio_double() -> Iterator[TwilioServer]:
    double = TwilioServer()
    yield double
    double.close()


@pytest.fixture
def twilio(
    twilio_double: TwilioServer,
    redis_client: redis.Redis,
    redis_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> TwilioServer:
    """The Twilio double, and ``deliver``'s worker runtime pointed at it and the test Redis."""
    twilio_double.reset()
    config = tmp_path / "rules.yaml"
    sms = {
        "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": AUTH_TOKEN,
        "from_number": "+15551234567",
        "to_numbers": [ONE, TWO, THREE],
        "api_base_url": twilio_double.base_url,
        "timeout_seconds": 5,
        # Retries here follow at once: Twilio's default 1/s would book them a turn later
        # (tests/unit/test_throttle.py covers that).
        "throttle": "off",
    }
    config.write_text(yamlfile.dump({"notifications": {"sms": sms}, "rules": []}))
    # deliver reads the module-level worker runtime; point it at this test's file and Redis.
    runtime = WorkerRuntime(Settings(rules_config_path=config, redis_url=redis_url))
    monkeypatch.setattr(notify, "runtime", runtime)
    return twilio_double


def attempted(server: TwilioServer) -> list[str]:
    return [form["To"] for form in server.attempts]


# -- the ledger ------------------------------------------------------------------------


def test_a_notification_is_sent_only_once_marked_done(redis_client: redis.Redis) -> None:
    """is_sent is false until mark_done, and true for any ledger of that id after it."""
    ledger = RedisLedger(redis_client, ID)
    assert ledger.is_sent() is False

    ledger.mark_done()

    assert RedisLedger(redis_client, ID).is_sent() is True
    assert RedisLedger(redis_client, "another-id").is_sent() is False


def test_one_worker_at_a_time_holds_the_lease_of_an_id(redis_client: redis.Redis) -> None:
    """A second worker cannot take the lease of an id being sent; another id is free."""
    assert RedisLedger(redis_client, ID).acquire_lease() is True

    assert RedisLedger(redis_client, ID).acquire_lease() is False
    assert RedisLedger(redis_client, "another-id").acquire_lease() is True


def test_recipients_that_accepted_are_remembered_per_notification(
    redis_client: redis.Redis,
) -> None:
    """mark_sent is seen by a later ledger of the same id only, for that recipient only."""
    RedisLedger(redis_client, ID).mark_sent(ONE)

    later = RedisLedger(redis_client, ID)
    assert (later.already_sent(ONE), later.already_sent(TWO)) == (True, False)
    assert RedisLedger(redis_client, "another-id").already_sent(ONE) is False


# -- deliver ----------------------------------------------------------------------------


def test_deliver_sends_to_each_recipient_and_a_second_task_is_a_duplicate(
    twilio: TwilioServer, redis_client: redis.Redis
) -> None:
    """A first delivery sends and marks the id sent; the same task again sends nothing."""
    assert deliver(TASKS["sms"], PAYLOAD) == "sent"
    assert RedisLedger(redis_client, ID).is_sent() is True

    assert deliver(TASKS["sms"], PAYLOAD) == "duplicate"
    assert attempted(twilio) == [ONE, TWO, THREE]


def test_an_id_already_marked_sent_never_reaches_the_channel(
    twilio: TwilioServer, redis_client: redis.Redis
) -> None:
    """A task whose id the ledger holds as sent returns "duplicate" without a send."""
    RedisLedger(redis_client, ID).mark_done()

    assert deliver(TASKS["sms"], PAYLOAD) == "duplicate"
    assert attempted(twilio) == []


def test_an_id_another_worker_is_sending_raises_lease_busy(
    twilio: TwilioServer, redis_client: redis.Redis
) -> None:
    """While another worker holds the lease, deliver raises LeaseBusy and sends nothing."""
    assert RedisLedger(redis_client, ID).acquire_lease() is True

    with pytest.raises(LeaseBusy, match=ID):
        deliver(TASKS["sms"], PAYLOAD)

    assert attempted(twilio) == []
    assert RedisLedger(redis_client, ID).is_sent() is False


def test_a_retry_after_a_partial_send_goes_only_to_the_recipients_left(
    twilio: TwilioServer, redis_client: redis.Redis
) -> None:
    """One number fails: the task raises, the retry (lease released) sends to that number only."""
    twilio.fail(TWO, SERVER_ERROR)

    with pytest.raises(TransientError):
        deliver(TASKS["sms"], PAYLOAD)
    assert twilio.delivered() == Counter({ONE: 1, THREE: 1})
    assert RedisLedger(redis_client, ID).is_sent() is False

    assert deliver(TASKS["sms"], PAYLOAD) == "sent"
    assert attempted(twilio) == [ONE, TWO, THREE, TWO]
    assert twilio.delivered() == Counter({ONE: 1, TWO: 1, THREE: 1})
