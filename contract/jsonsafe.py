"""Make a decoded event JSON-safe for the task payload (Avro gives datetimes, bytes, decimals).

Total and without recursion, so no event can make it raise: decoders already bound the
depth and reject NaN and Infinity (``ingest.limits``); should one reach here anyway it
becomes ``null``, so an invalid JSON body (``"confidence": NaN``) is never sent on.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import math
import uuid
from collections.abc import Mapping
from typing import cast

# A value JSON can carry, and a JSON object: what a task payload is made of.
Json = dict[str, "Json"] | list["Json"] | str | int | float | bool | None
JsonObject = dict[str, Json]


def jsonable_object(event: Mapping[str, object]) -> JsonObject:
    """``event`` with every value made JSON-safe (keys as text)."""
    return cast(JsonObject, jsonable(dict(event)))


def jsonable(value: object) -> Json:
    if not isinstance(value, dict | list | tuple):
        return _leaf(value)
    root: dict[str, Json] | list[Json] = {} if isinstance(value, dict) else []
    # (source container, its copy): children are copied into the copy, containers queued.
    pending: list[tuple[object, dict[str, Json] | list[Json]]] = [(value, root)]
    while pending:
        source, copy = pending.pop()
        items = (
            source.items() if isinstance(source, dict) else enumerate(cast(list[object], source))
        )
        for key, child in items:
            made: Json
            if isinstance(child, dict | list | tuple):
                container: dict[str, Json] | list[Json] = {} if isinstance(child, dict) else []
                pending.append((child, container))
                made = container
            else:
                made = _leaf(child)
            if isinstance(copy, dict):
                copy[str(key)] = made
            else:
                copy.append(made)
    return root


def _leaf(value: object) -> Json:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, decimal.Decimal):
        return str(value) if value.is_finite() else None
    if isinstance(value, uuid.UUID):
        return str(value)
    # Scalars. Avro and JSON decoders produce no other types; anything else passes as
    # before, for the task serializer to handle.
    return cast(Json, value)
