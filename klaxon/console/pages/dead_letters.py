"""Dead letters: the list (by channel), one in full, requeue one or all of a channel, purge.

Requeue goes through the API's ``Services.requeue`` (as ``klaxon dead requeue``): the same
task id is published again, so the sent-ledger still stops a second send.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from contract.redaction import SecretRegistry
from klaxon.api.services import services_of
from klaxon.console.guard import Refused, Viewer, Writer
from klaxon.console.render import page, redirect
from tasks.deadletters import DeadLetter, DeadLetterStore

router = APIRouter()


@router.get("/dead-letters", response_class=HTMLResponse)
def dead_letters(
    request: Request, session: Viewer, channel: Annotated[str, Query(max_length=200)] = ""
) -> HTMLResponse:
    # Link tokens masked: a viewer need not be allowed to ack or silence (DeadLetter.masked).
    letters = [letter.masked() for letter in DeadLetterStore(services_of(request).redis)]
    per_channel = Counter(letter.channel for letter in letters)
    shown = [letter for letter in letters if not channel or letter.channel == channel]
    shown.reverse()  # the store is oldest first; the newest failure matters most
    return page(
        request,
        "dead_letters.html",
        nav="Dead letters",
        letters=shown,
        channel=channel,
        per_channel=sorted(per_channel.items()),
        now=time.time(),
    )


@router.get("/dead-letters/{letter_id}", response_class=HTMLResponse)
def dead_letter(request: Request, session: Viewer, letter_id: str) -> HTMLResponse:
    letter = _letter(request, letter_id).masked()
    secrets = _secrets()
    return page(
        request,
        "dead_letter.html",
        nav="Dead letters",
        letter=letter,
        error=secrets.redact(letter.error),
        # ensure_ascii=False: a masked link reads ".../ack/…", not ".../ack/\u2026".
        payload=secrets.redact(
            json.dumps(letter.notification, indent=2, sort_keys=True, ensure_ascii=False)
        ),
        now=time.time(),
    )


@router.post("/dead-letters/requeue", response_class=RedirectResponse)
def requeue_channel(
    request: Request, session: Writer, channel: Annotated[str, Form(max_length=200)] = ""
) -> RedirectResponse:
    """Requeue every dead letter of one channel (after fixing its receiver)."""
    if not channel:
        raise Refused(422, "Which channel?", "Requeue all needs a channel: choose one.")
    s = services_of(request)
    store = DeadLetterStore(s.redis)
    ids = [letter.id for letter in store if letter.channel == channel]
    done = sum(1 for letter_id in ids if s.requeue(store, letter_id))
    return redirect(
        request, "/dead-letters", f"Requeued {done} dead letter(s) of channel {channel}."
    )


@router.post("/dead-letters/{letter_id}/requeue", response_class=RedirectResponse)
def requeue_one(request: Request, session: Writer, letter_id: str) -> RedirectResponse:
    s = services_of(request)
    if not s.requeue(DeadLetterStore(s.redis), letter_id):
        raise Refused(404, "No such dead letter", _gone(letter_id))
    return redirect(request, "/dead-letters", f"Requeued {letter_id[:8]}: sent again.")


@router.post("/dead-letters/{letter_id}/purge", response_class=RedirectResponse)
def purge_one(request: Request, session: Writer, letter_id: str) -> RedirectResponse:
    if not DeadLetterStore(services_of(request).redis).remove(letter_id):
        raise Refused(404, "No such dead letter", _gone(letter_id))
    return redirect(request, "/dead-letters", f"Purged {letter_id[:8]}.")


def _letter(request: Request, letter_id: str) -> DeadLetter:
    letter = DeadLetterStore(services_of(request).redis).get(letter_id)
    if letter is None:
        raise Refused(404, "No such dead letter", _gone(letter_id))
    return letter


def _gone(letter_id: str) -> str:
    return f"No dead letter {letter_id!r}: it was requeued or purged already, or never was."


def _secrets() -> SecretRegistry:
    # A payload carries no credential (the bridge renders, workers hold the settings), but
    # an error text from a library may quote a URL: mask what this process knows is secret.
    secrets = SecretRegistry()
    secrets.add_env()
    return secrets
