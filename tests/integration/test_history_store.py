"""The history store's contract, the same on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, delete, func, select

from contract import outbox
from contract.outbox import AttemptOutcome, Kind, NotificationStatus, Record
from history import writer
from history.database import make_engine
from history.models import (
    AlertEventRow,
    AttemptRow,
    Base,
    NotificationRow,
    SilenceAuditRow,
    TimelineRow,
)
from history.queries import AlertFilter, CursorError, History, NotificationFilter
from tests.support.databases import Unavailable, postgres_url, sqlite_url


@pytest.fixture(scope="session")
def postgres() -> Iterator[str | None]:
    try:
        with postgres_url() as url:
            yield url
    except Unavailable as exc:
        yield f"unavailable: {exc}"


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path, postgres: str) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = sqlite_url(tmp_path)
    else:
        if postgres.startswith("unavailable: "):
            pytest.skip(f"PostgreSQL {postgres}")
        url = postgres
    engine = make_engine(url)
    with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(delete(table))
    yield engine
    engine.dispose()


def _apply(engine: Engine, records: list[Record], first: int = 1) -> None:
    entries = [(f"{first + i}-0", record) for i, record in enumerate(records)]
    with engine.begin() as connection:
        writer.write(connection, writer.fold(entries))


def _queued(notification_id: str = "n1", at: float = 100.0) -> Record:
    return outbox.notification_queued(
        notification_id, "temp_high", "webhook", ["ops@example.com"], "trigger", "a1", at=at
    )


def _three_attempts(notification_id: str = "n1") -> list[Record]:
    records = [_queued(notification_id)]
    for number, (outcome, status) in enumerate(
        [
            (AttemptOutcome.FAILED, NotificationStatus.RETRYING),
            (AttemptOutcome.FAILED, NotificationStatus.RETRYING),
            (AttemptOutcome.SENT, NotificationStatus.SENT),
        ]
    ):
        attempt_id = f"{notification_id}-try{number}"
        at = 101.0 + 10 * number
        records.append(outbox.attempt(notification_id, attempt_id, AttemptOutcome.STARTED, at=at))
        error = "" if outcome is AttemptOutcome.SENT else "HTTP 503 from receiver"
        reason = "" if outcome is AttemptOutcome.SENT else "http_5xx"
        records.append(
            outbox.attempt(
                notification_id,
                attempt_id,
                outcome,
                status=status,
                error=error,
                reason=reason,
                at=at + 1,
            )
        )
    return records


def _alert(alert_id: str, triggered_at: float, resolved_at: float | None = None) -> Record:
    event = {
        "id": alert_id,
        "rule_id": "temp_high",
        "device_id": "tank-1",
        "triggered_at": triggered_at,
        "current_value": 82.5,
        "threshold_value": 82.0,
        "operator": ">",
        "metric": "temperature",
        "kind": "threshold",
        "is_resolved": resolved_at is not None,
        "resolved_at": resolved_at,
        "resolution_value": None if resolved_at is None else 81.0,
        "metadata": {},
    }
    return outbox.alert_event(event, "resolve" if resolved_at else "trigger")


def test_migrations_create_exactly_the_tables_the_models_define(engine: Engine) -> None:
    """`klaxon db upgrade` leaves no difference between the database and history.models."""
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_a_notification_that_failed_twice_then_sent_has_three_attempts(engine: Engine) -> None:
    """Each attempt keeps its times, outcome and error; the status ends at sent."""
    _apply(engine, _three_attempts())
    history = History(engine)
    row = history.notification("n1")
    assert row is not None
    assert (row.status, row.rule_id, row.channel, row.recipients) == (
        "sent",
        "temp_high",
        "webhook",
        ["ops@example.com"],
    )
    attempts = history.attempts("n1")
    assert [(a.outcome, a.started_at, a.finished_at, a.reason) for a in attempts] == [
        ("failed", 101.0, 102.0, "http_5xx"),
        ("failed", 111.0, 112.0, "http_5xx"),
        ("sent", 121.0, 122.0, ""),
    ]
    assert attempts[0].error == "HTTP 503 from receiver"


def test_applying_the_same_entries_again_changes_nothing(engine: Engine) -> None:
    """A batch replayed after a crash (same entries) leaves the same rows, no duplicates."""
    records = [*_three_attempts(), _alert("a1", 100.0), _alert("a1", 100.0, 160.0)]
    _apply(engine, records)
    _apply(engine, records)
    with engine.connect() as connection:
        counts = [
            connection.scalar(select(func.count()).select_from(model))
            for model in (NotificationRow, AttemptRow, AlertEventRow, TimelineRow)
        ]
    assert counts == [1, 3, 1, 2]
    assert History(engine).notification("n1").status == "sent"  # type: ignore[union-attr]


def test_entries_split_over_batches_give_the_same_rows_as_one_batch(engine: Engine) -> None:
    """Folding is per batch; one entry per batch ends in the same state."""
    for number, record in enumerate(_three_attempts()):
        _apply(engine, [record], first=number + 1)
    attempts = History(engine).attempts("n1")
    assert [a.outcome for a in attempts] == ["failed", "failed", "sent"]
    assert History(engine).notification("n1").status == "sent"  # type: ignore[union-attr]


def test_a_replayed_queued_entry_never_moves_a_sent_notification_back(engine: Engine) -> None:
    """The bridge replaying a batch appends "queued" again; the status stays sent."""
    _apply(engine, _three_attempts())
    _apply(engine, [_queued(at=500.0)], first=100)
    row = History(engine).notification("n1")
    assert row is not None
    assert (row.status, row.created_at) == ("sent", 100.0)


def test_silenced_status_keeps_its_reason(engine: Engine) -> None:
    """A notification silenced by another part shows status silenced and why."""
    _apply(
        engine,
        [
            _queued("n2"),
            outbox.notification_status("n2", NotificationStatus.SILENCED, "silence s-9", at=101.0),
        ],
    )
    row = History(engine).notification("n2")
    assert row is not None
    assert (row.status, row.reason) == ("silenced", "silence s-9")


def test_an_alert_triggered_then_resolved_is_one_row_with_its_timeline(engine: Engine) -> None:
    """Trigger and resolve land on one alert; ack, escalation and reminder on its timeline."""
    _apply(
        engine,
        [
            _alert("a1", 100.0),
            outbox.alert_action(Kind.ACK, "a1", actor="ana", note="looking", at=110.0),
            outbox.alert_action(Kind.ESCALATION, "a1", at=120.0, step="1"),
            outbox.alert_action(Kind.REMINDER, "a1", at=130.0),
            _alert("a1", 100.0, 160.0),
        ],
    )
    history = History(engine)
    alert = history.alert("a1")
    assert alert is not None
    assert (alert.is_resolved, alert.resolved_at, alert.resolution_value) == (True, 160.0, 81.0)
    assert (alert.current_value, alert.acknowledged_by, alert.acknowledged_at) == (
        82.5,
        "ana",
        110.0,
    )
    steps = [(t.kind, t.at) for t in history.timeline("a1")]
    assert steps == [
        ("trigger", 100.0),
        ("ack", 110.0),
        ("escalation", 120.0),
        ("reminder", 130.0),
        ("resolve", 160.0),
    ]


def test_unack_and_reject_land_on_the_timeline_and_the_alert_row(engine: Engine) -> None:
    """An unack clears who acknowledged; a reject keeps who and when; all are timeline steps."""
    _apply(
        engine,
        [
            _alert("a1", 100.0),
            outbox.alert_action(Kind.ACK, "a1", actor="ana", note="on it", at=110.0),
            outbox.alert_action(Kind.UNACK, "a1", actor="bo", note="not fixed", at=115.0),
            outbox.alert_action(Kind.REJECT, "a1", actor="cy", note="misread", at=120.0),
        ],
    )
    history = History(engine)
    alert = history.alert("a1")
    assert alert is not None
    assert (alert.acknowledged_by, alert.acknowledged_at) == (None, None)
    assert (alert.rejected_by, alert.rejected_at) == ("cy", 120.0)
    steps = [(t.kind, t.actor, t.note, t.at) for t in history.timeline("a1")]
    assert steps == [
        ("trigger", "", "", 100.0),
        ("ack", "ana", "on it", 110.0),
        ("unack", "bo", "not fixed", 115.0),
        ("reject", "cy", "misread", 120.0),
    ]


def test_a_hit_without_an_alert_event_still_gets_its_timeline(engine: Engine) -> None:
    """A hotlist hit has no alert event row: its ack, reminder and reject are still kept."""
    _apply(
        engine,
        [
            outbox.alert_action(Kind.REMINDER, "h1", actor="klaxon", at=10.0, step=1),
            outbox.alert_action(Kind.REJECT, "h1", actor="ana", note="misread", at=20.0),
        ],
    )
    history = History(engine)
    assert history.alert("h1") is None
    steps = [(t.kind, t.actor, t.detail) for t in history.timeline("h1")]
    assert steps == [("reminder", "klaxon", {"step": 1}), ("reject", "ana", {})]


def test_a_follow_up_appended_twice_is_one_timeline_step(engine: Engine) -> None:
    """A sweep's step keyed by (alert, follow-up) and replayed stays one line."""
    step = outbox.alert_action(Kind.ESCALATION, "a1", at=120.0, key="a1|escalation|0", step=1)
    _apply(engine, [_alert("a1", 100.0), step])
    _apply(engine, [step], first=50)
    assert [t.kind for t in History(engine).timeline("a1")] == ["trigger", "escalation"]


def test_a_muted_notification_never_queued_is_one_row_with_its_alert(engine: Engine) -> None:
    """A silenced trigger was never queued: its one record still names rule, alert, why."""
    record = outbox.notification_status(
        "n9",
        NotificationStatus.SILENCED,
        "silence s-1 (water change)",
        rule_id="temp_high",
        channel="sms",
        at=101.0,
        transition="trigger",
        alert_id="a1",
        ref="s-1",
    )
    _apply(engine, [record])
    row = History(engine).notification("n9")
    assert row is not None
    assert (row.status, row.reason, row.rule_id, row.channel) == (
        "silenced",
        "silence s-1 (water change)",
        "temp_high",
        "sms",
    )
    assert (row.transition, row.alert_id, row.created_at) == ("trigger", "a1", 101.0)


def test_cursor_pages_cover_every_alert_once_newest_first(engine: Engine) -> None:
    """Keyset pages of 7 over 30 alerts (some at the same second) return each exactly once."""
    _apply(engine, [_alert(f"a{i:02d}", 1000.0 + i // 3) for i in range(30)])
    history = History(engine)
    seen: list[str] = []
    cursor = None
    while True:
        page = history.alerts(AlertFilter(rule_id="temp_high"), limit=7, cursor=cursor)
        seen += [a.id for a in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == sorted((f"a{i:02d}" for i in range(30)), reverse=True)


def test_a_cursor_not_handed_out_is_refused() -> None:
    """A forged cursor is a CursorError, not a database error."""
    from history.queries import decode_cursor

    with pytest.raises(CursorError):
        decode_cursor("not-a-cursor!")


def test_notification_filters_and_cleanup(engine: Engine) -> None:
    """Filters by channel and status; cleanup removes old resolved alerts, keeps firing ones."""
    _apply(engine, [*_three_attempts("n1"), _queued("n2", at=300.0)])
    _apply(
        engine, [_alert("old", 10.0, 20.0), _alert("firing", 10.0), _alert("new", 900.0, 910.0)], 50
    )
    history = History(engine)
    sent = history.notifications(NotificationFilter(channel="webhook", status="sent"))
    assert [n.id for n in sent.items] == ["n1"]
    assert [n.id for n in history.notifications(NotificationFilter(since=200.0)).items] == ["n2"]
    assert history.cleanup(older_than=500.0) == 1
    assert history.alert("old") is None
    assert history.timeline("old") == []
    assert {a.id for a in history.active()} == {"firing"}
    stats = history.stats()
    assert stats == [
        {
            "rule_id": "temp_high",
            "triggered": 2,
            "resolved": 1,
            "firing": 1,
            "mean_time_to_resolve_seconds": 10.0,
        }
    ]


def test_silences_audit_and_a_malformed_entry_is_skipped(engine: Engine) -> None:
    """Silence actions are kept in order; an entry missing its id is skipped, not fatal."""
    _apply(
        engine,
        [
            outbox.silence_audit("s1", "created", actor="ana", matchers={"rule": "x"}, at=1.0),
            Record(Kind.ATTEMPT, {"outcome": "started", "at": 2.0}),
            outbox.silence_audit("s1", "expired", actor="bo", at=3.0),
        ],
    )
    with engine.connect() as connection:
        rows = connection.execute(
            select(SilenceAuditRow.action, SilenceAuditRow.actor).order_by(SilenceAuditRow.at)
        ).all()
        attempts = connection.scalar(select(func.count()).select_from(AttemptRow))
    assert [tuple(r) for r in rows] == [("created", "ana"), ("expired", "bo")]
    assert attempts == 0
