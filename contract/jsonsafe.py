"""Make a decoded event JSON-safe for the task payload (Avro gives datetimes, bytes, decimals)."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import uuid
from collections.abc import Mapping
from typing import cast

# A value JSON can carry, and a JSON object: what a task payload is made of.
Json = dict[str, "Json"] | list["Json"] | str | int | float | bool | None
JsonObject = dict[str, Json]


def jsonable_object(event: Mapping[str, object]) -> JsonObject:
    """``event`` with every value made JSON-safe (keys as text)."""
    return {str(k): jsonable(v) for k, v in event.items()}


def jsonable(value: object) -> Json:
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    # Scalars. Avro and JSON decoders produce no other types; anything else passes as
    # before, for the task serializer to handle.
    return cast(Json, value)
