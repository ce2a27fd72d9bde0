"""``klaxon db upgrade`` and ``klaxon notifications list/show`` on a real history database."""

from __future__ import annotations

import json
from pathlib import Path

import redis
from click.testing import CliRunner

from contract import outbox
from contract.outbox import AttemptOutcome, NotificationStatus
from history.migrate import current
from klaxon.cli import main
from tests.support.history import record_outbox
from tests.support.servers import free_port


def _three_tries(client: redis.Redis) -> None:
    records = [
        outbox.notification_queued("n1", "temp_high", "sms", ["+15550100"], "trigger", at=100.0)
    ]
    for number, final in enumerate((False, False, True)):
        at = 101.0 + 10 * number
        records.append(outbox.attempt("n1", f"t{number}", AttemptOutcome.STARTED, at=at))
        records.append(
            outbox.attempt(
                "n1",
                f"t{number}",
                AttemptOutcome.SENT if final else AttemptOutcome.FAILED,
                status=NotificationStatus.SENT if final else NotificationStatus.RETRYING,
                error="" if final else "Twilio answered 503",
                reason="" if final else "server_error",
                at=at + 2,
            )
        )
    records.append(outbox.notification_queued("n2", "watch", "email", [], "match", at=200.0))
    outbox.append_batch(client, records)


def test_db_upgrade_creates_the_tables_and_says_the_revision(tmp_path: Path) -> None:
    """`klaxon db upgrade` migrates the database named by KLAXON_DATABASE_URL."""
    url = f"sqlite:///{tmp_path / 'h.db'}"
    result = CliRunner().invoke(main, ["db", "upgrade"], env={"KLAXON_DATABASE_URL": url})
    assert (result.exit_code, result.stdout) == (0, "history database at revision 0001\n")
    assert current(url) == "0001"


def test_an_unreachable_database_is_a_clear_error() -> None:
    """A PostgreSQL that does not answer: exit 2 with one line, no traceback."""
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/klaxon"
    for args in (["db", "upgrade"], ["notifications", "list"]):
        result = CliRunner().invoke(main, args, env={"KLAXON_DATABASE_URL": url})
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith("error: cannot ")
        assert "Traceback" not in result.output


def test_notifications_show_lists_every_attempt_and_list_filters(
    redis_client: redis.Redis, tmp_path: Path
) -> None:
    """`notifications show` prints each attempt with its error; `list` filters by status."""
    url = f"sqlite:///{tmp_path / 'h.db'}"
    env = {"KLAXON_DATABASE_URL": url}
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade"], env=env).exit_code == 0
    _three_tries(redis_client)
    record_outbox(redis_client, url)

    shown = runner.invoke(main, ["notifications", "show", "n1"], env=env)
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    assert lines[:4] == [
        "notification n1",
        "  rule temp_high, channel sms, transition trigger",
        "  recipients +15550100",
        "  status sent",
    ]
    attempts = [line.split()[:2] for line in lines[7:]]
    assert attempts == [["1", "failed"], ["2", "failed"], ["3", "sent"]]
    assert "Twilio answered 503" in lines[7]

    as_json = json.loads(
        runner.invoke(main, ["notifications", "show", "n1", "--json"], env=env).stdout
    )
    assert [(a["outcome"], a["started_at"], a["finished_at"]) for a in as_json["attempts"]] == [
        ("failed", 101.0, 103.0),
        ("failed", 111.0, 113.0),
        ("sent", 121.0, 123.0),
    ]

    listed = runner.invoke(main, ["notifications", "list", "--status", "queued", "--json"], env=env)
    assert [json.loads(line)["id"] for line in listed.stdout.splitlines()] == ["n2"]
    everything = runner.invoke(main, ["notifications", "list", "--json"], env=env)
    assert [json.loads(line)["id"] for line in everything.stdout.splitlines()] == ["n2", "n1"]
    missing = runner.invoke(main, ["notifications", "show", "nope"], env=env)
    assert (missing.exit_code, missing.stderr) == (1, "no notification nope in the history\n")
