"""Config loading and validation: every problem named by file, rule id and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from contract.problems import ConfigInvalid, ConfigProblem
from contract.retry_policy import RetryPolicy
from rules.config import (
    ChannelConfig,
    KlaxonConfig,
    SourceConfig,
    check_config,
    load_config,
)
from rules.engine import RuleEngine

TESTDATA = Path(__file__).resolve().parents[1] / "testdata" / "config"
SEED = Path(__file__).resolve().parents[2] / "config" / "alert_rules.yaml"

PLACEHOLDER_HINT = (
    "(a placeholder is a field path like {plate.normalized_text}; "
    "write {{ and }} for literal braces)"
)

RE2_HINT = "(RE2 syntax: no backreferences or lookaround; see docs/rules.md)"
NO_ALIASES = (
    "is not allowed in a config file "
    "(aliases can expand a few lines into gigabytes): write the value out"
)

# One fixture per mistake: the exact errors it must produce, in order, without the
# "<file>: " prefix. "{dir}" stands for the fixture directory.
CASES: dict[str, list[str]] = {
    "duplicate_id": [
        'rule "watch": rules[1].id: duplicate rule id "watch" (first defined at rules[0])',
    ],
    "missing_id": ["rules[0].id: is required"],
    "unknown_key": ['rule "r1": rules[0].nmae: unknown key (did you mean "name"?)'],
    "unknown_key_rate_limit": [
        'rule "r1": rules[0].rate_limit.cooldown_seconds: is required',
        'rule "r1": rules[0].rate_limit.cooldown_second: unknown key '
        '(did you mean "cooldown_seconds"?)',
    ],
    "wrong_type": ["rule \"r1\": rules[0].enabled: expected true or false, got 'yes'"],
    "bad_regex": [
        f'rule "r1": rules[0].conditions[0].value: invalid regex "([": missing ]: [ {RE2_HINT}',
    ],
    "regex_backreference": [
        'rule "doubled": rules[0].conditions[0].value: invalid regex "^(\\\\w)\\\\1": '
        f"invalid escape sequence: \\1 {RE2_HINT}",
    ],
    "regex_lookahead": [
        'rule "not_test": rules[0].conditions[0].value: invalid regex "^(?!TEST)": '
        f"invalid perl operator: (?! {RE2_HINT}",
    ],
    "unknown_channel": [
        'rule "r1": rules[0].notify[0]: unknown channel "teams" '
        "(known: apprise, email, ntfy, pushover, slack, sms, webhook)",
    ],
    "unknown_operator": [
        'rule "r1": rules[0].conditions[1].operator: unknown operator "equal" '
        '(did you mean "equals"?)',
    ],
    "empty_conditions": ['rule "r1": rules[0].conditions: must list at least one condition'],
    "bad_priority": [
        'rule "r1": rules[0].priority: unknown priority "urgent" (known: high, medium, low)',
    ],
    "cooldown_not_positive": [
        'rule "r1": rules[0].rate_limit.cooldown_seconds: must be positive, got 0',
    ],
    "channel_not_configured": [
        'rule "r1": rules[0].notify[1]: channel "email" is not configured under notifications',
    ],
    "unknown_notification_channel": [
        'notifications.teams: unknown channel "teams" '
        "(known: apprise, email, ntfy, pushover, slack, sms, webhook)",
    ],
    "in_list_not_a_list": [
        'rule "r1": rules[0].conditions[0].value: expected a list of values, got "ABC123"',
    ],
    "greater_than_not_a_number": [
        'rule "r1": rules[0].conditions[0].value: expected a number, got "0.9"',
    ],
    "bad_field_path": [
        'rule "r1": rules[0].conditions[0].field: invalid field path "plate[0]": '
        "expected names separated by dots, like plate.normalized_text",
    ],
    "bad_template": [
        'rule "r1": rules[0].message_template: invalid placeholder '
        f'"{{plate.normalized_text!r}}" {PLACEHOLDER_HINT}',
    ],
    "missing_message_template": ['rule "r1": rules[0].message_template: is required'],
    "unknown_rule_type": [
        'rule "r1": rules[0].type: unknown rule type "thresold" (did you mean "threshold"?)',
    ],
    "threshold_bad_operator": [
        'rule "t1": rules[0].operator: unknown operator "greater_then" '
        '(did you mean "greater_than"?)',
    ],
    "threshold_bare_operator": [
        'rule "t1": rules[0].operator: is empty: quote a symbol in YAML, e.g. operator: ">" '
        "(a bare > starts a folded text block)",
    ],
    "threshold_missing_threshold": ['rule "t1": rules[0].threshold: is required'],
    "threshold_not_a_number": [
        "rule \"t1\": rules[0].threshold: expected a number, got '82'",
    ],
    "threshold_missing_metric": ['rule "t1": rules[0].metric: is required'],
    "threshold_resolve_wrong_side": [
        'rule "t1": rules[0].resolve_threshold: must be <= threshold (82.0) with operator ">", '
        "got 85: the alert resolves once the value is no longer > resolve_threshold",
        'rule "t2": rules[1].resolve_threshold: must be >= threshold (7.8) with operator "<", '
        "got 7.5: the alert resolves once the value is no longer < resolve_threshold",
    ],
    "threshold_resolve_with_equals": [
        'rule "t1": rules[0].resolve_threshold: is not allowed with operator "==": '
        "hysteresis needs one of >, >=, < or <=",
    ],
    "threshold_rate_limit": [
        'rule "t1": rules[0].rate_limit: is not allowed on threshold rules: an alert notifies '
        "once when it triggers (and when it resolves); use repeat_interval for reminders "
        "while it stays firing",
    ],
    "threshold_bad_duration": [
        'rule "t1": rules[0].for_seconds: expected a number of seconds or a duration like '
        '45s, 30m, 1h or 2d, got "5 minutes"',
        'rule "t1": rules[0].no_data_seconds: expected a number of seconds or a duration like '
        "45s, 30m, 1h or 2d, got true",
        # Reminders are read with the other follow-ups (repeat, escalation), after the lifecycle.
        'rule "t1": rules[0].repeat_interval: must not be negative, got -60',
    ],
    "threshold_bad_device_id": [
        'rule "t1": rules[0].device_id[2]: expected a device id, got ""',
    ],
    "state_key_rate_limit": [
        'rule "cam-down": rules[0].rate_limit: cannot be used with state_key: a stateful rule '
        "notifies once when its alert triggers (and when it resolves), not on every match; "
        "use repeat_interval for reminders while it stays firing",
    ],
    "state_key_bad_path": [
        'rule "cam-down": rules[0].state_key: invalid field path "camera[0]": '
        "expected names separated by dots, like plate.normalized_text",
    ],
    "stateful_keys_on_match_rule": [
        'rule "r1": rules[0].notify_on_resolve: only applies to stateful rules: '
        "set state_key, or use type: threshold",
        'rule "r1": rules[0].threshold: only applies to threshold rules (type: threshold)',
    ],
    "recipients_not_notified": [
        'rule "r1": rules[0].recipients.sms: this rule does not notify sms',
    ],
    "unknown_top_level_key": ['source: unknown key (did you mean "sources"?)'],
    "bad_env_reference": [
        'notifications.webhook.url: invalid variable reference "${WEBHOOK PATH}" '
        "(write ${NAME} or ${NAME:-default}, and $${ for a literal ${)",
    ],
    "source_schema_missing": [
        'sources["alpr.plates.detected"].schema: file not found: {dir}/schemas/missing.avsc',
    ],
    "bad_source_format": [
        'sources["alpr.plates.detected"].format: unknown format "protobuf" '
        "(known: auto, registry, avro, json)",
    ],
    "yaml_syntax": [
        "line 7, column 5: invalid YAML: expected ',' or ']', but got '<scalar>' "
        "(while parsing a flow sequence that starts at line 6, column 17)",
    ],
    "duplicate_yaml_key": [
        'line 9, column 5: duplicate key "message_template" '
        "(YAML would silently keep only the last one)",
    ],
    "not_a_mapping": [
        '<file>: expected a mapping with notifications and rules, got [{"id": "r1"}, {"id": "r2"}]',
    ],
    "empty_file": ["<file>: the file is empty: expected a mapping with notifications and rules"],
    "yaml_anchor": [f'line 2, column 12: YAML anchor "&hook" {NO_ALIASES}'],
    "yaml_alias": [f'line 7, column 13: YAML alias "*channels" {NO_ALIASES}'],
    "yaml_alias_bomb": [f'line 10, column 7: YAML anchor "&l0" {NO_ALIASES}'],
    "yaml_too_deep": ["line 10, column 70: lists and mappings nested more than 64 levels deep"],
}


def errors_of(problems: list[ConfigProblem]) -> list[str]:
    return [str(p) for p in problems if not p.warning]


def warnings_of(problems: list[ConfigProblem], path: Path) -> list[str]:
    return [str(p).removeprefix(f"{path}: ") for p in problems if p.warning]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "alert_rules.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_every_case_has_a_fixture_and_every_fixture_a_case() -> None:
    """The fixture directory and the table of expected errors list the same cases."""
    fixtures = {p.stem for p in TESTDATA.glob("*.yaml")} - {"several_errors"}
    assert fixtures == set(CASES)


@pytest.mark.parametrize("case", sorted(CASES))
def test_invalid_config_reports_exact_errors(case: str) -> None:
    """Each broken fixture yields exactly its errors, each naming file, rule and field."""
    path = TESTDATA / f"{case}.yaml"
    config, problems = check_config(path, env={})
    assert config is None
    expected = [f"{path}: {line.replace('{dir}', str(TESTDATA))}" for line in CASES[case]]
    assert errors_of(problems) == expected


def test_all_errors_are_reported_at_once() -> None:
    """A file with many mistakes reports every one of them in one pass."""
    path = TESTDATA / "several_errors.yaml"
    with pytest.raises(ConfigInvalid) as caught:
        load_config(path, env={})
    assert errors_of(caught.value.problems) == [
        f"{path}: {line}"
        for line in [
            'rule "r1": rules[0].priority: unknown priority "hgh" (did you mean "high"?)',
            'rule "r1": rules[0].notify[1]: unknown channel "teams" '
            "(known: apprise, email, ntfy, pushover, slack, sms, webhook)",
            'rule "r1": rules[0].conditions[0].value: must list at least one value',
            'rule "r1": rules[0].conditions[1].value: invalid regex "cam-(": '
            f"missing ): cam-( {RE2_HINT}",
            "rules[1].id: is required",
            'rules[1].conditions[0].value: expected a number, got "fast"',
            f'rules[1].message_template: invalid placeholder "{{speed:>3}}" {PLACEHOLDER_HINT}',
            'rule "r1": rules[2].id: duplicate rule id "r1" (first defined at rules[0])',
            'rule "r1": rules[2].rate_limit.cooldown_seconds: must be positive, got -5',
        ]
    ]
    assert str(caught.value).startswith("9 error(s) in the configuration:\n")


def test_seed_example_loads_without_errors() -> None:
    """The seed's alert_rules.yaml loads unchanged with its secrets unset."""
    config, problems = check_config(SEED, env={})
    assert errors_of(problems) == []
    assert config is not None
    warnings = warnings_of(problems, SEED)
    # A channel may add its own warnings about a value left empty; these three are ours.
    for expected in [
        "notifications.email.password: ${SMTP_PASSWORD} is not set",
        "notifications.slack.webhook_url: ${SLACK_WEBHOOK_URL} is not set",
        'rule "watchlist_plate": rules[0].notify[2]: '
        "notifies sms, which is disabled: nothing will be sent there",
    ]:
        assert expected in warnings
    assert not any("TWILIO" in w or "WEBHOOK_TOKEN" in w for w in warnings)  # disabled
    assert sorted(config.channels) == ["email", "slack", "sms", "webhook"]
    assert {name: c.enabled for name, c in config.channels.items()} == {
        "email": True,
        "slack": True,
        "webhook": False,
        "sms": False,
    }
    (rule,) = config.rules
    assert rule.id == "watchlist_plate"
    assert rule.name == "Watchlist Plate Detected"
    assert rule.priority == "high"
    assert rule.source == "alpr.plates.detected"
    assert rule.channels == ("email", "slack")
    assert rule.rate_limit is not None
    assert rule.rate_limit.cooldown_seconds == 300
    assert rule.rate_limit.dedup_key == "plate.normalized_text"


def test_seed_watchlist_rule_matches_a_watchlisted_plate() -> None:
    """The loaded seed config matches its watchlist rule against a detection of ABC123."""
    env = {"SMTP_PASSWORD": "s3cret", "SLACK_WEBHOOK_URL": "https://hooks.slack.com/T/B/x"}
    config = load_config(SEED, env=env)
    assert [str(w).removeprefix(f"{SEED}: ") for w in config.warnings] == [
        'rule "watchlist_plate": rules[0].notify[2]: '
        "notifies sms, which is disabled: nothing will be sent there",
    ]
    event = {
        "plate": {"normalized_text": "ABC123"},
        "camera_id": "cam-1",
        "captured_at": 1700000000000,
    }
    matched = RuleEngine(config.rules).evaluate("alpr.plates.detected", event)
    assert [r.id for r in matched] == ["watchlist_plate"]
    assert matched[0].render_message(event).splitlines() == [
        "🚨 WATCHLIST PLATE DETECTED",
        "Plate: ABC123",
        "Camera: cam-1",
        "Time: 1700000000000",
    ]


WEBHOOK_ONLY = """\
notifications:
  webhook:
    url: "${HOOK_URL:-https://default.example.com/hook}"
    retry:
      max_retries: 5
      backoff_seconds: 2
rules:
  - id: r1
    conditions: [{field: camera_id, operator: exists}]
    notify: [webhook]
    message_template: "{camera_id}"
"""


def test_env_values_are_substituted_into_channel_settings(tmp_path: Path) -> None:
    """${VAR:-default} in a channel setting takes the variable, or the default."""
    path = write(tmp_path, WEBHOOK_ONLY)
    assert load_config(path, env={}).channels["webhook"].settings.url == (
        "https://default.example.com/hook"
    )
    config = load_config(path, env={"HOOK_URL": "https://hooks.example.com/x"})
    assert config.channels["webhook"].settings.url == "https://hooks.example.com/x"


def test_channel_retry_policy_is_read(tmp_path: Path) -> None:
    """notifications.<name>.retry becomes the channel's RetryPolicy; absent gives defaults."""
    config = load_config(write(tmp_path, WEBHOOK_ONLY), env={})
    webhook = config.channels["webhook"]
    assert webhook == ChannelConfig(
        name="webhook",
        enabled=True,
        retry=RetryPolicy(max_retries=5, backoff_seconds=2.0),
        settings=webhook.settings,
    )
    assert ChannelConfig(name="x").retry == RetryPolicy()


def test_retry_problems_name_the_field(tmp_path: Path) -> None:
    """A typo inside retry is reported under notifications.<name>.retry."""
    path = write(tmp_path, WEBHOOK_ONLY.replace("backoff_seconds: 2", "backof_seconds: 2"))
    _, problems = check_config(path, env={})
    assert errors_of(problems) == [
        f"{path}: notifications.webhook.retry.backof_seconds: unknown key "
        '(did you mean "backoff_seconds"?)'
    ]


def test_unset_variable_in_enabled_channel_is_a_warning(tmp_path: Path) -> None:
    """An unset ${VAR} in an enabled channel warns with the field and the variable."""
    text = WEBHOOK_ONLY.replace(
        "      backoff_seconds: 2\n",
        '      backoff_seconds: 2\n    headers:\n      Authorization: "Bearer ${TOKEN}"\n',
    )
    path = write(tmp_path, text)
    config, problems = check_config(path, env={})
    assert config is not None
    assert warnings_of(problems, path) == [
        "notifications.webhook.headers.Authorization: ${TOKEN} is not set"
    ]
    assert config.channels["webhook"].settings.headers == {"Authorization": "Bearer "}


def test_problem_with_an_unset_variable_is_a_warning(tmp_path: Path) -> None:
    """A channel's complaint about a value whose ${VAR} is unset is downgraded to a warning."""
    text = WEBHOOK_ONLY.replace("    retry:\n", '    timeout_seconds: "${TIMEOUT}"\n    retry:\n')
    path = write(tmp_path, text)
    config, problems = check_config(path, env={})
    assert config is not None
    warnings = warnings_of(problems, path)
    assert warnings[0] == "notifications.webhook.timeout_seconds: ${TIMEOUT} is not set"
    assert warnings[1].startswith("notifications.webhook.timeout_seconds: expected ")
    _, problems = check_config(path, env={"TIMEOUT": "soon"})
    assert [p.field for p in problems if not p.warning] == ["notifications.webhook.timeout_seconds"]


def test_disabled_channel_is_parsed_but_only_typos_are_reported(tmp_path: Path) -> None:
    """A disabled channel's missing values are not errors; its unknown keys are warnings."""
    text = WEBHOOK_ONLY.replace(
        "rules:\n",
        '  sms:\n    enabled: false\n    twilio_account_sid: "${SID}"\n'
        '    from_numbr: "+15551234567"\nrules:\n',
    )
    path = write(tmp_path, text)
    config, problems = check_config(path, env={})
    assert errors_of(problems) == []
    assert config is not None
    assert config.channels["sms"].enabled is False
    assert warnings_of(problems, path) == [
        'notifications.sms.from_numbr: unknown key (did you mean "from_number"?)'
    ]


def test_rule_notifying_disabled_channel_warns_and_skips_it(tmp_path: Path) -> None:
    """A rule keeps only enabled channels; a disabled one it names is a warning."""
    text = WEBHOOK_ONLY.replace("rules:\n", "  sms:\n    enabled: false\nrules:\n").replace(
        "notify: [webhook]", "notify: [sms, webhook]"
    )
    path = write(tmp_path, text)
    config, problems = check_config(path, env={})
    assert config is not None
    assert config.rules[0].channels == ("webhook",)
    assert warnings_of(problems, path) == [
        'rule "r1": rules[0].notify[0]: notifies sms, which is disabled: nothing will be sent there'
    ]


def test_recipients_override_per_rule(tmp_path: Path) -> None:
    """recipients replaces a channel's recipients for one rule."""
    text = WEBHOOK_ONLY.replace(
        "rules:\n",
        "  sms:\n    twilio_account_sid: AC123\n    twilio_auth_token: tok\n"
        '    from_number: "+15551234567"\n    to_numbers: ["+15559876543"]\nrules:\n',
    ).replace(
        "notify: [webhook]",
        'notify: [webhook, sms]\n    recipients:\n      sms: ["+15550001111"]',
    )
    config = load_config(write(tmp_path, text), env={})
    assert dict(config.rules[0].recipients) == {"sms": ("+15550001111",)}


def test_sources_resolve_schema_relative_to_the_config(tmp_path: Path) -> None:
    """sources: a relative schema path is read from the config file's directory."""
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "plate.avsc").write_text("{}", encoding="utf-8")
    text = WEBHOOK_ONLY + (
        "sources:\n  alpr.plates.detected:\n    format: avro\n    schema: schemas/plate.avsc\n"
        "  reef.readings: {format: json}\n"
    )
    config = load_config(write(tmp_path, text), env={})
    assert config.sources == {
        "alpr.plates.detected": SourceConfig(
            "alpr.plates.detected", "avro", tmp_path / "schemas" / "plate.avsc"
        ),
        "reef.readings": SourceConfig("reef.readings", "json", None),
    }
    assert config.source("other") == SourceConfig("other", "auto", None)


def test_rule_source_defaults_to_the_default_topic(tmp_path: Path) -> None:
    """A rule without source reads the topic given as default_topic."""
    config = load_config(write(tmp_path, WEBHOOK_ONLY), env={}, default_topic="plates.v2")
    assert isinstance(config, KlaxonConfig)
    assert config.rules[0].source == "plates.v2"


def test_missing_file_is_a_problem_not_an_exception(tmp_path: Path) -> None:
    """check_config reports a missing file; load_config raises ConfigInvalid for it."""
    path = tmp_path / "nope.yaml"
    config, problems = check_config(path, env={})
    assert config is None
    assert errors_of(problems) == [f"{path}: <file>: file not found"]
    with pytest.raises(ConfigInvalid):
        load_config(path, env={})


def test_directory_instead_of_file_is_a_problem(tmp_path: Path) -> None:
    """A path that cannot be read as a file is reported, not raised."""
    _, problems = check_config(tmp_path, env={})
    assert errors_of(problems) == [f"{tmp_path}: <file>: cannot read the file: Is a directory"]


def test_config_holds_stateless_and_stateful_rules(tmp_path: Path) -> None:
    """rules keeps config order across kinds; threshold rules read devices.readings."""
    text = WEBHOOK_ONLY + (
        "  - id: t1\n    type: threshold\n    metric: temperature\n"
        "    operator: greater_than\n    threshold: 82\n    notify: [webhook]\n"
        "  - id: s1\n    state_key: camera_id\n"
        "    conditions: [{field: status, operator: equals, value: offline}]\n"
        '    notify: [webhook]\n    message_template: "{camera_id} offline"\n'
    )
    config = load_config(write(tmp_path, text), env={}, default_topic="plates.v2")
    assert [(type(r).__name__, r.id, r.source) for r in config.rules] == [
        ("Rule", "r1", "plates.v2"),
        ("ThresholdRule", "t1", "devices.readings"),
        ("StatefulMatchRule", "s1", "plates.v2"),
    ]
    engine = RuleEngine(config.rules)
    assert engine.topics == frozenset({"plates.v2", "devices.readings"})
    assert [r.id for r in engine.stateful("plates.v2")] == ["s1"]


def test_sources_set_event_limits_per_topic_with_defaults(tmp_path: Path) -> None:
    """sources: max_depth and max_bytes are read per topic; others keep 64 and 1 MiB."""
    text = WEBHOOK_ONLY + (
        "sources:\n  alpr.plates.detected: {max_depth: 8, max_bytes: 4096}\n"
        "  reef.readings: {format: json}\n"
    )
    config = load_config(write(tmp_path, text), env={})
    plates = config.source("alpr.plates.detected")
    assert (plates.max_depth, plates.max_bytes) == (8, 4096)
    assert (config.source("reef.readings").max_depth, config.source("other").max_bytes) == (
        64,
        1024 * 1024,
    )


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        (
            "max_depth: 0",
            "max_depth: must be from 1 to 512 (levels of nested objects and lists), got 0",
        ),
        (
            "max_depth: 513",
            "max_depth: must be from 1 to 512 (levels of nested objects and lists), got 513",
        ),
        ("max_depth: 2.5", "max_depth: expected a whole number, got 2.5"),
        ("max_bytes: 0", "max_bytes: must be at least 1 (bytes of one message), got 0"),
        ("max_bytes: 1MB", "max_bytes: expected a whole number, got '1MB'"),
    ],
)
def test_bad_event_limits_name_the_topic_and_the_field(
    tmp_path: Path, setting: str, message: str
) -> None:
    """A limit out of range or of the wrong type is an error at sources["<topic>"].<field>."""
    path = write(tmp_path, WEBHOOK_ONLY + f"sources:\n  plates.raw: {{{setting}}}\n")
    config, problems = check_config(path, env={})
    assert config is None
    assert [str(p) for p in problems] == [f'{path}: sources["plates.raw"].{message}']
