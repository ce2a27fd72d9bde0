"""The inbox page: received notifications, newest first, refreshed every few seconds."""

from __future__ import annotations

import time
from collections.abc import Sequence
from html import escape

from klaxon.devstack.inbox import Delivery, Links

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#1d232a}
h1{font-size:1.3rem;margin:0 0 .4rem}
nav a{margin-right:1rem}
.counts span{display:inline-block;margin:.6rem .8rem .6rem 0;padding:.2rem .6rem;
  border-radius:1rem;background:#eef1f4}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #e3e7eb;vertical-align:top}
th{background:#f6f8fa}
td.msg{white-space:pre-wrap;font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
.email{color:#0a7ea4}.slack{color:#8e24aa}.webhook{color:#b26a00}.sms{color:#2e7d32}
.resolve{color:#2e7d32;font-weight:600}.trigger{color:#c62828;font-weight:600}
"""


def _row(delivery: Delivery) -> str:
    stamp = time.strftime("%H:%M:%S", time.localtime(delivery.received_at))
    transition = delivery.transition or ""
    return (
        "<tr>"
        f"<td>{stamp}</td>"
        f'<td class="{escape(delivery.channel)}">{escape(delivery.channel)}</td>'
        f"<td>{escape(delivery.rule)}</td>"
        f'<td class="{escape(transition)}">{escape(transition)}</td>'
        f"<td>{escape(delivery.recipient)}</td>"
        f'<td class="msg">{escape(delivery.message.strip())}</td>'
        "</tr>"
    )


def render_page(
    deliveries: Sequence[Delivery], counts: dict[str, int], links: Links, refresh: int = 3
) -> str:
    nav = ['<a href="/api/inbox">JSON</a>']
    if links.console:
        nav.append(f'<a href="{escape(links.console)}">console</a> (login in the terminal)')
    if links.flower:
        nav.append(f'<a href="{escape(links.flower)}">Flower</a> (credentials in the terminal)')
    if links.metrics:
        nav.append(f'<a href="{escape(links.metrics)}">bridge metrics</a>')
    if links.worker_metrics:
        nav.append(f'<a href="{escape(links.worker_metrics)}">worker metrics</a>')
    badges = "".join(
        f'<span class="{escape(name)}">{escape(name)}: {count}</span>'
        for name, count in sorted(counts.items())
    )
    rows = "".join(_row(d) for d in deliveries) or (
        '<tr><td colspan="6">Nothing yet: the demo stream starts within seconds.</td></tr>'
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<meta http-equiv='refresh' content='{refresh}'>"
        f"<title>Klaxon dev inbox ({len(deliveries)})</title><style>{_STYLE}</style></head><body>"
        "<h1>Klaxon dev inbox</h1>"
        f"<nav>{''.join(nav)}</nav>"
        f'<div class="counts">{badges}</div>'
        "<table><thead><tr><th>time</th><th>channel</th><th>rule</th><th>transition</th>"
        "<th>recipient</th><th>message</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></body></html>"
    )
