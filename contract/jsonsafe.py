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
from typing import Any


def jsonable(value: Any) -> Any:
    if not isinstance(value, dict | list | tuple):
        return _leaf(value)
    root: Any = {} if isinstance(value, dict) else []
    # (source container, its copy): children are copied into the copy, containers queued.
    pending: list[tuple[Any, Any]] = [(value, root)]
    while pending:
        source, copy = pending.pop()
        items = source.items() if isinstance(source, dict) else enumerate(source)
        for key, child in items:
            if isinstance(child, dict | list | tuple):
                made: Any = {} if isinstance(child, dict) else []
                pending.append((child, made))
            else:
                made = _leaf(child)
            if isinstance(copy, dict):
                copy[str(key)] = made
            else:
                copy.append(made)
    return root


def _leaf(value: Any) -> Any:
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
    return value
