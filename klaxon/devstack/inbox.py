"""The dev inbox: every notification the local sinks receive, printed and kept in memory.

``Inbox`` starts two servers on loopback: an SMTP server (``inbox_smtp``) and one HTTP
server (``inbox_http``) speaking the Slack incoming-webhook API, a generic webhook endpoint
and Twilio's Messages API, and serving the inbox page at ``/`` and ``/api/inbox``.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import click

from klaxon.devstack.ports import HOST

CHANNEL_COLORS = {"email": "cyan", "slack": "magenta", "webhook": "yellow", "sms": "green"}


def first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


@dataclass(frozen=True)
class Delivery:
    """One notification as a sink received it."""

    channel: str
    rule: str
    recipient: str
    message: str
    transition: str | None = None
    received_at: float = field(default_factory=time.time)
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def summary(self) -> str:
        return first_line(self.message)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "summary": self.summary}


@dataclass(frozen=True)
class Links:
    """Where the other parts of the stack answer, for the inbox page."""

    flower: str = ""
    metrics: str = ""
    worker_metrics: str = ""
    console: str = ""


class Inbox:
    """Thread-safe store of deliveries; each one is echoed as one line when it arrives."""

    def __init__(
        self,
        echo: Callable[[str], None] | None = None,
        keep: int = 1000,
        links: Links | None = None,
    ) -> None:
        self.echo = echo if echo is not None else click.echo
        self.links = links or Links()
        self._lock = threading.Lock()
        self._deliveries: deque[Delivery] = deque(maxlen=keep)
        self._counts: Counter[str] = Counter()
        self._transitions: Counter[str] = Counter()
        # First line of a message -> its rule id, learnt from channels that carry the id
        # (email headers, webhook bodies), for those that do not (SMS).
        self._rules: OrderedDict[str, str] = OrderedDict()
        # Rule name -> rule id, from the rules file: Slack messages name the rule.
        self.rule_names: dict[str, str] = {}

    def add(self, delivery: Delivery) -> None:
        with self._lock:
            self._deliveries.append(delivery)
            self._counts[delivery.channel] += 1
            if delivery.transition:
                self._transitions[delivery.transition] += 1
        self.echo(self.line(delivery))

    def learn_rule(self, message: str, rule: str) -> None:
        with self._lock:
            self._rules[first_line(message)] = rule
            while len(self._rules) > 500:
                self._rules.popitem(last=False)

    def rule_for(self, message: str) -> str | None:
        with self._lock:
            return self._rules.get(first_line(message))

    def deliveries(self) -> list[Delivery]:
        """Newest first."""
        with self._lock:
            return list(reversed(self._deliveries))

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def transitions(self) -> dict[str, int]:
        with self._lock:
            return dict(self._transitions)

    @staticmethod
    def line(delivery: Delivery) -> str:
        stamp = time.strftime("%H:%M:%S", time.localtime(delivery.received_at))
        channel = click.style(
            f"{delivery.channel:<7}", fg=CHANNEL_COLORS.get(delivery.channel), bold=True
        )
        transition = (
            f" [{delivery.transition}]" if delivery.transition not in (None, "match") else ""
        )
        summary = delivery.summary
        if len(summary) > 100:
            summary = summary[:99] + "…"
        return (
            f"{stamp} {channel} {delivery.rule:<22} {delivery.recipient:<24} {summary}{transition}"
        )


class InboxServers:
    """The SMTP and HTTP sinks of one inbox, on loopback."""

    def __init__(
        self, inbox: Inbox, smtp_port: int, http_port: int, twilio_sid: str, twilio_token: str
    ) -> None:
        from klaxon.devstack.inbox_http import HttpSinks
        from klaxon.devstack.inbox_smtp import SmtpSink  # aiosmtpd: a dev-only dependency

        self.inbox = inbox
        self.smtp = SmtpSink(inbox, smtp_port)
        self.http = HttpSinks(inbox, http_port, twilio_sid, twilio_token)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.http.port}"

    def start(self) -> InboxServers:
        self.http.start()
        self.smtp.start()
        return self

    def close(self) -> None:
        self.smtp.close()
        self.http.close()
