"""A dead letter whose message and payload carry one-click links (contract.ack_links)."""

from __future__ import annotations

import dataclasses

from tasks.deadletters import DeadLetter

ACK = "https://klaxon.example.com/ack/C3xPXo0qXBueP2p7jJ0OHw.aw86mw.K4aS5AbjU6pBjSBLZzkvnYnk"
SILENCE = "https://klaxon.example.com/silence-link/C3xPXo0qXBueP2p7jJ0OHw.aw86mw.Zm9vYmFy"
TOKENS = (ACK.rsplit("/", 1)[1], SILENCE.rsplit("/", 1)[1])


def with_links(letter: DeadLetter) -> DeadLetter:
    """``letter`` as if its notification had an ack and a silence link in it."""
    message = f"Plate ABC123. Ack: {ACK}"
    return dataclasses.replace(
        letter,
        message=message,
        notification={
            "id": letter.id,
            "channel": "webhook",
            "message": message,
            "variants": {"html": message},
            "links": {"ack": ACK, "silence": SILENCE},
        },
    )
