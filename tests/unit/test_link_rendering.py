"""{ack_url} and {silence_url}: rendered by the bridge's pipeline and the sweep, or empty."""

from __future__ import annotations

import dataclasses
import json
import textwrap
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner

from alerts.followups import FollowUps
from alerts.lifecycle import Lifecycle
from alerts.no_data import raise_due
from contract.ack_links import LinkAction, LinkSigner
from contract.errors import BridgeError
from contract.notification import Notification, Source, TransitionKind
from contract.settings import Settings
from ingest.pipeline import Pipeline
from ingest.wiring import build_pipeline
from klaxon.cli import main
from rules.compose import compose
from rules.config import check_config, load_config
from rules.engine import RuleEngine
from tests.support.fakes import Clock, FakeMessage

TOPIC = "plates"
PUBLIC = "https://klaxon.example.com"
SECRET = "a-console-secret-of-at-least-32-characters"
T0 = 1_700_000_000.0

RULES = """\
notifications:
  slack: {webhook_url: "http://127.0.0.1:9/hook"}
  webhook: {url: "http://127.0.0.1:9/hook"}
rules:
  - id: hit
    source: plates
    conditions: [{field: plate, operator: equals, value: ABC123}]
    notify: [slack, webhook]
    acknowledge: true
    repeat: [5m]
    message_template: "Plate {plate}: ack {ack_url} or silence {silence_url}"
  - id: plain
    source: plates
    conditions: [{field: plate, operator: equals, value: ABC123}]
    notify: [webhook]
    message_template: "Plate {plate} [{ack_url}]"
  - id: gate
    source: plates
    state_key: gate
    conditions: [{field: plate, operator: equals, value: ABC123}]
    notify: [webhook]
    no_data_seconds: 60
    message_template: "Gate {gate}: {alert_id} {ack_url}"
    no_data_template: "Gate {device_id} silent: {silence_url}"
"""

# A range rule: its level alerts have no ack record, so they carry a silence link only.
RANGE_RULES = """\
notifications:
  webhook: {url: "http://127.0.0.1:9/hook"}
rules:
  - id: tank
    type: range
    source: plates
    metric: temp
    notify: [webhook]
    levels: [{severity: warning, low: 25, high: 27}]
    message_template: "Tank {device_id}: ack [{ack_url}] silence [{silence_url}]"
"""


def rules_file(tmp_path: Path, text: str = RULES) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    return path


def linked_settings(path: Path) -> Settings:
    return Settings(rules_config_path=path, public_url=PUBLIC, console_secret=SECRET)


def verify(url: str, action: LinkAction, clock: Clock) -> str:
    """The alert id a link names, checked as the console will check it."""
    token = url.rsplit("/", 1)[1]
    return LinkSigner(PUBLIC, SECRET, clock=clock).verify(token, action).alert_id


def batch(pipeline: Pipeline) -> list[Notification]:
    event = json.dumps({"plate": "ABC123", "gate": "north"}).encode()
    return pipeline.process([FakeMessage(TOPIC, 0, 7, event)]).notifications


@pytest.fixture
def clock() -> Clock:
    return Clock(now=T0)


def test_an_acknowledgeable_match_carries_signed_links(
    tmp_path: Path, redis_client: redis.Redis, clock: Clock
) -> None:
    """A hit's message renders both URLs; Notification.links holds them for every channel."""
    path = rules_file(tmp_path)
    config = load_config(path)
    pipeline = build_pipeline(config, linked_settings(path), redis_client, clock)
    hits = [n for n in batch(pipeline) if n.rule_id == "hit"]
    assert [n.channel for n in hits] == ["slack", "webhook"]
    slack, webhook = hits
    assert slack.links == webhook.links
    assert set(slack.links) == {"ack", "silence"}
    assert slack.links["ack"].startswith(f"{PUBLIC}/ack/")
    assert slack.links["silence"].startswith(f"{PUBLIC}/silence-link/")
    assert slack.message == (
        f"Plate ABC123: ack {slack.links['ack']} or silence {slack.links['silence']}"
    )
    assert slack.variants["slack"] == slack.message  # nothing in a link needs escaping
    assert slack.alert is not None
    alert_id = slack.alert["id"]
    assert verify(slack.links["ack"], LinkAction.ACK, clock) == alert_id
    assert verify(slack.links["silence"], LinkAction.SILENCE, clock) == alert_id
    # The payload round-trips through a task's JSON.
    assert Notification.from_dict(json.loads(json.dumps(slack.to_dict()))) == slack


def test_a_rule_without_an_alert_renders_the_links_empty(
    tmp_path: Path, redis_client: redis.Redis, clock: Clock
) -> None:
    """A plain match has nothing to ack: empty text, never "<missing ack_url>", no links."""
    path = rules_file(tmp_path)
    pipeline = build_pipeline(load_config(path), linked_settings(path), redis_client, clock)
    (plain,) = [n for n in batch(pipeline) if n.rule_id == "plain"]
    assert (plain.message, plain.links) == ("Plate ABC123 []", {})


def test_stateful_alerts_reminders_and_no_data_alerts_carry_links(
    tmp_path: Path, redis_client: redis.Redis, clock: Clock
) -> None:
    """A trigger, a reminder of the hit (the sweep) and a no-data alert each link to their
    own alert."""
    text = RULES.replace("silent: {silence_url}", "silent: [{ack_url}] {silence_url}")
    path = rules_file(tmp_path, text)
    config = load_config(path)
    pipeline = build_pipeline(config, linked_settings(path), redis_client, clock)
    (trigger,) = [n for n in batch(pipeline) if n.rule_id == "gate"]
    assert trigger.alert is not None
    gate_alert = trigger.alert["id"]
    assert trigger.message == f"Gate north: {gate_alert} {trigger.links['ack']}"
    assert verify(trigger.links["ack"], LinkAction.ACK, clock) == gate_alert

    clock.now = T0 + 301
    plan = FollowUps(redis_client, links=pipeline.links).plan(
        {rule.id: rule for rule in config.rules}, clock.now
    )
    reminder, _ = [n for n in plan.notifications if n.rule_id == "hit"]  # slack, webhook
    assert reminder.transition == TransitionKind.REMINDER
    assert reminder.alert is not None
    assert verify(reminder.links["ack"], LinkAction.ACK, clock) == reminder.alert["id"]
    assert reminder.message == (
        f"Plate ABC123: ack {reminder.links['ack']} or silence {reminder.links['silence']}"
    )

    stateful = RuleEngine(config.rules).stateful_rules()
    raised = raise_due(stateful, Lifecycle(redis_client), clock.now, pipeline.links)
    (silent,) = raised.notifications
    assert silent.alert is not None
    # A no-data alert has no ack record: the silence link only, {ack_url} empty.
    assert list(silent.links) == ["silence"]
    assert silent.message == f"Gate north silent: [] {silent.links['silence']}"
    assert verify(silent.links["silence"], LinkAction.SILENCE, clock) == silent.alert["id"]


def test_a_range_level_alert_carries_only_a_silence_link(
    tmp_path: Path, redis_client: redis.Redis, clock: Clock
) -> None:
    """A range rule's alert cannot be acknowledged: no ack link, {ack_url} renders empty."""
    path = rules_file(tmp_path, RANGE_RULES)
    pipeline = build_pipeline(load_config(path), linked_settings(path), redis_client, clock)
    reading = {"device_id": "north", "metric": "temp", "value": 30, "timestamp": T0 * 1000}
    event = json.dumps(reading).encode()
    (raised,) = pipeline.process([FakeMessage(TOPIC, 0, 7, event)]).notifications
    assert raised.alert is not None
    assert list(raised.links) == ["silence"]
    assert raised.message == f"Tank north: ack [] silence [{raised.links['silence']}]"
    assert verify(raised.links["silence"], LinkAction.SILENCE, clock) == raised.alert["id"]


def test_check_warns_about_ack_links_of_alerts_that_cannot_be_acked(tmp_path: Path) -> None:
    """{ack_url} in a range rule's templates or a no-data template always renders empty."""
    extra = RANGE_RULES.split("rules:\n", 1)[1].replace(
        'message_template: "Tank', 'subject_template: "{ack_url}"\n    message_template: "Tank'
    )
    text = RULES.replace("silent: {silence_url}", "silent: {ack_url}") + extra
    _, problems = check_config(rules_file(tmp_path, text))
    range_says = (
        "{ack_url} always renders empty here: a range rule's level alert cannot be "
        "acknowledged, only silenced (use {silence_url})"
    )
    assert [(p.rule_id, p.field, p.message) for p in problems if p.warning][1:] == [
        (
            "gate",
            "rules[2].no_data_template",
            "{ack_url} always renders empty here: a no-data alert cannot be acknowledged, "
            "only silenced (use {silence_url})",
        ),
        ("tank", "rules[3].message_template", range_says),
        ("tank", "rules[3].subject_template", range_says),
    ]


def test_without_a_public_url_nothing_is_signed(
    tmp_path: Path, redis_client: redis.Redis, clock: Clock
) -> None:
    """KLAXON_PUBLIC_URL unset: the placeholders render empty and no links are attached."""
    path = rules_file(tmp_path)
    pipeline = build_pipeline(load_config(path), Settings(rules_config_path=path), redis_client)
    assert pipeline.links is None
    hits = [n for n in batch(pipeline) if n.rule_id == "hit"]
    assert [(n.message, n.links) for n in hits] == [("Plate ABC123: ack  or silence ", {})] * 2


def test_a_public_url_without_a_secret_stops_the_bridge(tmp_path: Path) -> None:
    """Links nothing could verify are refused where the bridge is built."""
    path = rules_file(tmp_path)
    settings = dataclasses.replace(linked_settings(path), console_secret="")
    with pytest.raises(BridgeError, match="KLAXON_PUBLIC_URL is set but KLAXON_CONSOLE_SECRET"):
        build_pipeline(load_config(path), settings, redis.Redis())


def test_a_resolve_carries_no_links(tmp_path: Path) -> None:
    """A resolved alert has nothing left to ack: {ack_url} is empty, links are none."""
    (gate,) = [r for r in load_config(rules_file(tmp_path)).rules if r.id == "gate"]
    signer = LinkSigner(PUBLIC, SECRET)
    source = Source(TOPIC, 0, 1)
    for kind, links in (
        (TransitionKind.TRIGGER, {"ack", "silence"}),
        (TransitionKind.RESOLVE, set()),
    ):
        (built,) = compose(
            gate,
            gate.message_template,
            {"gate": "north"},
            source,
            "now",
            transition=kind,
            values={"alert_id": "a-1"},
            links=signer,
        )
        assert set(built.links) == links


def test_check_warns_about_links_that_always_render_empty(tmp_path: Path) -> None:
    """A rule with no alert, and a resolve template, can never carry a link."""
    extra = textwrap.indent(
        textwrap.dedent(
            """\
            - id: tank
              type: threshold
              metric: level
              operator: ">"
              threshold: 5
              notify: [webhook]
              notify_on_resolve: true
              resolve_template: "back to normal {silence_url}"
            """
        ),
        "  ",
    )
    _, problems = check_config(rules_file(tmp_path, RULES + extra))
    assert [(p.rule_id, p.field, p.message) for p in problems if p.warning] == [
        (
            "plain",
            "rules[1].message_template",
            "{ack_url} always renders empty here: this rule opens no alert to ack or silence "
            "(set acknowledge: true)",
        ),
        (
            "tank",
            "rules[3].resolve_template",
            "{silence_url} always renders empty here: a resolve message has no open alert to "
            "ack or silence",
        ),
    ]


def test_klaxon_check_warns_when_no_links_are_signed(tmp_path: Path) -> None:
    """Without KLAXON_PUBLIC_URL every link placeholder is reported; with it, none but
    the ones that never have an alert."""
    path = rules_file(tmp_path)
    runner = CliRunner()
    unset = runner.invoke(main, ["check", str(path)], env={"KLAXON_PUBLIC_URL": ""})
    assert unset.exit_code == 0, unset.output
    unsigned = [line for line in unset.output.splitlines() if "KLAXON_PUBLIC_URL" in line]
    assert unsigned == [
        f'warning: {path}: rule "{rule}": {field}: {{{name}}} renders empty: '
        "KLAXON_PUBLIC_URL is not set, so notifications carry no ack or silence links"
        for rule, field, name in (
            ("hit", "rules[0].message_template", "ack_url"),
            ("hit", "rules[0].message_template", "silence_url"),
            ("gate", "rules[2].message_template", "ack_url"),
            ("gate", "rules[2].no_data_template", "silence_url"),
        )
    ]
    linked = runner.invoke(
        main,
        ["check", str(path)],
        env={"KLAXON_PUBLIC_URL": PUBLIC, "KLAXON_CONSOLE_SECRET": SECRET},
    )
    assert linked.exit_code == 0, linked.output
    assert "KLAXON_PUBLIC_URL" not in linked.output
    assert "always renders empty" in linked.output  # the plain rule's, from the file alone
