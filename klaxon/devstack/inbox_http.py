"""The inbox's HTTP server: Slack, webhook and Twilio sinks, and the inbox page.

``POST /slack/...``: a Slack incoming webhook; answers ``ok`` as Slack does.
``POST /webhook``: a generic webhook; answers 200 with a small JSON body.
``POST /2010-04-01/Accounts/{sid}/Messages.json``: Twilio's Messages API with Basic auth;
answers 201 with a message resource the official client parses (401 code 20003 on bad
credentials, 400 on a missing To/From/Body).
``GET /``: the inbox page; ``GET /api/inbox``: every delivery as JSON, newest first.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import re
import threading
import uuid
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from klaxon.devstack.inbox import Delivery, Inbox
from klaxon.devstack.inbox_page import render_page
from klaxon.devstack.ports import HOST

_TWILIO_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<sid>[^/]+)/Messages\.json$")


def twilio_error(status: int, code: int, message: str) -> tuple[int, dict[str, Any]]:
    return status, {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def twilio_message(account_sid: str, form: dict[str, str]) -> dict[str, Any]:
    """A message resource as Twilio returns it for a queued message."""
    sid = "SM" + uuid.uuid4().hex
    now = formatdate(usegmt=False)
    return {
        "account_sid": account_sid,
        "api_version": "2010-04-01",
        "body": form.get("Body", ""),
        "date_created": now,
        "date_sent": None,
        "date_updated": now,
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": form.get("From"),
        "messaging_service_sid": form.get("MessagingServiceSid"),
        "num_media": "0",
        "num_segments": str(max(1, -(-len(form.get("Body", "")) // 153))),
        "price": None,
        "price_unit": "USD",
        "sid": sid,
        "status": "queued" if form.get("From") else "accepted",
        "subresource_uris": {
            "media": f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}/Media.json"
        },
        "to": form.get("To"),
        "uri": f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}.json",
    }


def slack_rule_name(payload: dict[str, Any]) -> str | None:
    """The rule name from Klaxon's Block Kit fields (``*Rule*\\n<name>``)."""
    for block in payload.get("blocks") or []:
        for item in block.get("fields") or [] if isinstance(block, dict) else []:
            text = item.get("text", "") if isinstance(item, dict) else ""
            if text.startswith("*Rule*\n"):
                return html.unescape(text.removeprefix("*Rule*\n"))
    return None


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: deliveries are printed by the inbox."""

    # -- plumbing ----------------------------------------------------------------------------

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, data: object) -> None:
        self._reply(status, json.dumps(data, default=str).encode(), "application/json")

    def _text(self, status: int, text: str) -> None:
        self._reply(status, text.encode(), "text/plain; charset=utf-8")

    # -- routes --------------------------------------------------------------------------------

    def do_GET(self) -> None:
        inbox = self.server.inbox
        path = self.path.split("?", 1)[0]
        if path == "/api/inbox":
            self._json(200, [d.to_json() for d in inbox.deliveries()])
        elif path in ("/", "/index.html"):
            page = render_page(inbox.deliveries(), inbox.counts(), inbox.links)
            self._reply(200, page.encode(), "text/html; charset=utf-8")
        elif path == "/healthz":
            self._text(200, "ok")
        else:
            self._text(404, "not found")

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        body = self._body()
        if path.startswith("/slack/"):
            self._slack(body)
        elif path == "/webhook" or path.startswith("/webhook/"):
            self._webhook(path, body)
        elif match := _TWILIO_PATH.match(path):
            self._twilio(match.group("sid"), body)
        else:
            self._text(404, "not found")

    def _slack(self, body: bytes) -> None:
        try:
            payload = json.loads(body)
        except ValueError:
            form = parse_qs(body.decode(errors="replace"))
            try:
                payload = json.loads(form.get("payload", [""])[0])
            except ValueError:
                self._text(400, "invalid_payload")
                return
        if not isinstance(payload, dict) or not payload.get("text"):
            self._text(400, "no_text")
            return
        text = html.unescape(str(payload["text"]))
        inbox = self.server.inbox
        name = slack_rule_name(payload)
        rule = inbox.rule_for(text) or inbox.rule_names.get(name or "") or name or "?"
        channel = str(payload.get("channel") or "#(webhook's channel)")
        inbox.add(Delivery("slack", rule, channel, text, detail={"payload": payload}))
        self._text(200, "ok")

    def _webhook(self, path: str, body: bytes) -> None:
        try:
            payload = json.loads(body)
        except ValueError:
            self._json(400, {"ok": False, "error": "body is not JSON"})
            return
        data = payload if isinstance(payload, dict) else {"body": payload}
        message = str(data.get("message", "")) or json.dumps(data)[:200]
        rule = str(data.get("rule_id") or "?")
        if rule != "?":
            self.server.inbox.learn_rule(message, rule)
        transition = data.get("transition")
        self.server.inbox.add(
            Delivery(
                "webhook",
                rule,
                f"POST {path}",
                message,
                transition=str(transition) if transition else None,
                detail={"body": data, "idempotency_key": self.headers.get("Idempotency-Key")},
            )
        )
        self._json(200, {"ok": True, "id": data.get("id")})

    def _authorized(self, sid: str) -> bool:
        header = self.headers.get("Authorization") or ""
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        server = self.server
        return user == sid == server.twilio_sid and password == server.twilio_token

    def _twilio(self, sid: str, body: bytes) -> None:
        if not self._authorized(sid):
            self._json(*twilio_error(401, 20003, "Authenticate"))
            return
        form = {k: v[0] for k, v in parse_qs(body.decode(errors="replace")).items()}
        if not form.get("To"):
            self._json(*twilio_error(400, 21604, "A 'To' phone number is required."))
            return
        if not (form.get("From") or form.get("MessagingServiceSid")):
            self._json(*twilio_error(400, 21603, "A 'From' phone number is required."))
            return
        if not form.get("Body"):
            self._json(*twilio_error(400, 21602, "Message body is required."))
            return
        resource = twilio_message(sid, form)
        inbox = self.server.inbox
        rule = inbox.rule_for(form["Body"]) or "?"
        inbox.add(
            Delivery(
                "sms",
                rule,
                form["To"],
                form["Body"],
                detail={"from": form.get("From"), "sid": resource["sid"]},
            )
        )
        self._json(201, resource)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, inbox: Inbox, twilio_sid: str, twilio_token: str) -> None:
        super().__init__((HOST, port), _Handler)
        self.inbox = inbox
        self.twilio_sid = twilio_sid
        self.twilio_token = twilio_token


class HttpSinks:
    def __init__(self, inbox: Inbox, port: int, twilio_sid: str, twilio_token: str) -> None:
        self.server = _Server(port, inbox, twilio_sid, twilio_token)
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(
            target=self.server.serve_forever, name="dev-inbox-http", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
