"""ntfy channel settings: server, topic, priority, tags, click URL and the access token.

ntfy (https://ntfy.sh, or a self-hosted server) publishes a plain-text message to a topic;
the worker posts it as JSON to the server's root. Messages are plain text, so nothing is
escaped; the access token is the credential and stays out of repr (and so out of logs).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from contract.channels.masking import masked_url
from contract.channels.spec import SettingsSpec
from contract.mapping import MappingReader

PUBLIC_SERVER = "https://ntfy.sh"

# ntfy's topic names: letters, digits, _ and -, at most 64.
_TOPIC = re.compile(r"^[-_A-Za-z0-9]{1,64}$")
# ntfy's priority names and numbers (1 min .. 5 max/urgent).
PRIORITY_NAMES: dict[str, int] = {
    "min": 1,
    "low": 2,
    "default": 3,
    "high": 4,
    "urgent": 5,
    "max": 5,
}


@dataclass(frozen=True)
class NtfySettings:
    topic: str
    server_url: str = PUBLIC_SERVER
    # None: derived from the rule's priority (tasks.channels.ntfy).
    priority: int | None = None
    tags: tuple[str, ...] = ()
    click_url: str | None = None
    access_token: str | None = field(default=None, repr=False)
    timeout_seconds: float = 10.0


def parse_priority(reader: MappingReader, key: str, value: object) -> int | None:
    """An ntfy priority given as 1..5 or as its name; None (and a problem) otherwise."""
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 5:
        return value
    if isinstance(value, str) and value.lower() in PRIORITY_NAMES:
        return PRIORITY_NAMES[value.lower()]
    names = ", ".join(PRIORITY_NAMES)
    reader.error(key, f"must be 1 to 5 or one of {names}, got {value!r}")
    return None


def parse_settings(reader: MappingReader) -> NtfySettings:
    server = reader.optional("server_url", str, PUBLIC_SERVER).rstrip("/")
    if not server.startswith(("https://", "http://")):
        reader.error(
            "server_url", f"must start with https:// or http://, got {masked_url(server)!r}"
        )
    topic = reader.required("topic", str, "")
    if topic and not _TOPIC.match(topic):
        reader.error("topic", f"must be 1-64 letters, digits, _ or -, got {topic!r}")
    raw_priority = reader.raw("priority")
    priority = None if raw_priority is None else parse_priority(reader, "priority", raw_priority)
    tags = reader.optional("tags", list, [])
    for index, tag in enumerate(tags):
        if not isinstance(tag, str) or not tag or "," in tag:
            reader.error(f"tags[{index}]", f"must be a word without commas, got {tag!r}")
    click = reader.optional("click_url", str, "") or None
    if click and not re.match(r"^[a-z][a-z0-9+.-]*:", click):
        reader.error("click_url", f"must be a URL (https://..., mailto:...), got {click!r}")
    timeout = reader.optional("timeout_seconds", float, 10.0)
    if timeout <= 0:
        reader.error("timeout_seconds", f"must be positive, got {timeout:g}")
    return NtfySettings(
        topic=topic,
        server_url=server,
        priority=priority,
        tags=tuple(str(t) for t in tags),
        click_url=click,
        access_token=reader.optional("access_token", str, "") or None,
        timeout_seconds=timeout,
    )


SPEC = SettingsSpec(name="ntfy", parse_settings=parse_settings)
