"""The rules shipped in the Kubernetes manifests load through the real config loader."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from rules.config import load_config
from tests.support.processes import ROOT

# What the pods' environment provides for the ${...} in the rules (from Secrets there).
POD_SECRETS = {
    "SMTP_PASSWORD": "smtp-secret",
    "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T0/B0/x",
    "WEBHOOK_TOKEN": "webhook-secret",
    "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
    "TWILIO_AUTH_TOKEN": "twilio-secret",
}


def rules_configmaps() -> list[tuple[Path, str, str, str]]:
    """(manifest, ConfigMap name, data key, text) for every ConfigMap entry holding rules."""
    found = []
    for manifest in sorted((ROOT / "deploy").rglob("*.y*ml")):
        for document in yaml.safe_load_all(manifest.read_text()):
            if not isinstance(document, dict) or document.get("kind") != "ConfigMap":
                continue
            for key, text in (document.get("data") or {}).items():
                content: Any = yaml.safe_load(text) if isinstance(text, str) else None
                if isinstance(content, dict) and "rules" in content:
                    found.append((manifest, document["metadata"]["name"], key, text))
    return found


def test_the_rules_configmap_loads_with_the_real_config_loader(tmp_path: Path) -> None:
    """The one rules ConfigMap in deploy/ is a valid rules file: its rules and channels load."""
    (entry,) = rules_configmaps()
    manifest, name, key, text = entry
    assert (manifest.relative_to(ROOT).as_posix(), name, key) == (
        "deploy/kubernetes/create-once/klaxon-rules.yaml",
        "klaxon-rules",
        "alert_rules.yaml",
    )
    path = tmp_path / key
    path.write_text(text)

    config = load_config(path, env=POD_SECRETS)

    assert [rule.id for rule in config.rules] == ["watchlist_plate"]
    enabled = sorted(c for c, channel in config.channels.items() if channel.enabled)
    assert enabled == ["email", "slack"]
    assert [str(problem) for problem in config.warnings] == [
        f'{path}: rule "watchlist_plate": rules[0].notify[2]: notifies sms, which is disabled: '
        "nothing will be sent there"
    ]
