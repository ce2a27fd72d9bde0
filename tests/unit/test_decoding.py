"""Decoders and their limits: any bytes give an event or a DecodeError naming the reason."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import fastavro
import pytest

from contract import encoding
from contract.errors import DecodeError
from contract.jsonsafe import jsonable
from ingest.decoding import Decoder
from ingest.limits import EventLimits
from tests.support.kafka import PLATE_SCHEMA, plate_event

# A record that holds itself: only a walk can bound how deep its values go.
CHAIN_SCHEMA = fastavro.parse_schema(
    {
        "type": "record",
        "name": "Link",
        "fields": [
            {"name": "value", "type": "double"},
            {"name": "next", "type": ["null", "Link"], "default": None},
        ],
    }
)


class OneSchema:
    """A Schema Registry stand-in that knows schema id 1 only (in-process, no HTTP)."""

    def __init__(self, schema: Any) -> None:
        self._schema = schema

    def schema(self, schema_id: int) -> Any:
        if schema_id != 1:
            raise DecodeError(f"schema id {schema_id} is not in the registry")
        return self._schema


def chain(depth: int, last: float = 1.0) -> dict[str, Any]:
    link: dict[str, Any] = {"value": last, "next": None}
    for _ in range(depth - 1):
        link = {"value": 1.0, "next": link}
    return link


def reason(decoder: Decoder, value: bytes) -> str:
    with pytest.raises(DecodeError) as caught:
        decoder.decode(value)
    return str(caught.value)


def test_five_thousand_brackets_on_a_json_topic_are_a_decode_error() -> None:
    """b"[" * 5000 + b"]" * 5000 is rejected over max_depth, not a RecursionError."""
    assert "max_depth (64)" in reason(Decoder("t", "json"), b"[" * 5000 + b"]" * 5000)


def test_a_field_nested_600_deep_is_rejected_naming_max_depth_and_the_path() -> None:
    """A small object with one field 600 deep is over the default depth, with its path."""
    value = b'{"camera_id":"cam-9","deep":' + b'{"a":' * 599 + b"1" + b"}" * 600
    text = reason(Decoder("t", "json"), value)
    assert text.startswith("nesting deeper than max_depth (64) at deep.a.a.a")


def test_depth_exactly_at_the_limit_passes_and_one_more_fails() -> None:
    """max_depth 3 accepts three nested containers and refuses a fourth."""
    decoder = Decoder("t", "json", limits=EventLimits(max_depth=3))
    assert decoder.decode(b'{"a":{"b":[1]}}') == {"a": {"b": [1]}}
    assert reason(decoder, b'{"a":{"b":[{}]}}') == "nesting deeper than max_depth (3) at a.b.0"


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e400"])
def test_json_nan_and_infinity_are_rejected(literal: bytes) -> None:
    """NaN, Infinity and numbers that overflow to infinity are not accepted from JSON."""
    text = reason(Decoder("t", "json"), b'{"confidence":' + literal + b"}")
    assert "NaN and Infinity are not JSON" in text or "infinity" in text


def test_avro_nan_is_rejected_naming_the_field() -> None:
    """A NaN float in a schemaless Avro plate event is rejected with its field path."""
    event = plate_event("ABC123")
    event["plate"]["confidence"] = float("nan")
    text = reason(Decoder("t", "avro", PLATE_SCHEMA), encoding.avro(event, PLATE_SCHEMA))
    assert text.startswith("non-finite number nan at plate.confidence")


def test_registry_framed_infinity_in_an_optional_field_is_rejected() -> None:
    """An infinite value in a union-typed field of a registry-framed event is rejected."""
    event = plate_event("ABC123", speed_kmh=float("inf"))
    decoder = Decoder("t", "registry", registry=OneSchema(PLATE_SCHEMA))
    text = reason(decoder, encoding.registry_framed(event, PLATE_SCHEMA, 1))
    assert text.startswith("non-finite number inf at speed_kmh")


def test_a_recursive_avro_schema_is_walked_for_depth_and_numbers() -> None:
    """Records of a recursive schema pass within max_depth, and fail past it or with NaN."""
    decoder = Decoder("t", "avro", CHAIN_SCHEMA, limits=EventLimits(max_depth=10))
    assert decoder.decode(encoding.avro(chain(10), CHAIN_SCHEMA)) == chain(10)
    assert "max_depth (10)" in reason(decoder, encoding.avro(chain(11), CHAIN_SCHEMA))
    nan_at_the_end = encoding.avro(chain(3, last=float("nan")), CHAIN_SCHEMA)
    assert reason(decoder, nan_at_the_end).startswith("non-finite number nan at next.next.value")


def test_a_very_deep_recursive_avro_record_is_a_decode_error() -> None:
    """Avro nesting far past any limit is a DecodeError whatever the parser does."""
    deep = encoding.avro(chain(400), CHAIN_SCHEMA)
    assert "max_depth (64)" in reason(Decoder("t", "avro", CHAIN_SCHEMA), deep)


def test_a_message_over_max_bytes_is_rejected_before_parsing() -> None:
    """max_bytes is checked first, on every format, and named in the reason."""
    decoder = Decoder("t", "auto", PLATE_SCHEMA, limits=EventLimits(max_bytes=100))
    value = json.dumps({"x": "y" * 200}).encode()
    assert reason(decoder, value) == f"message of {len(value)} bytes is over max_bytes (100)"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b'{"a":"\\ud800"}', "invalid JSON"),  # a lone surrogate: cannot be sent on as UTF-8
        (b'{"a":"\xff"}', "invalid JSON"),
        (b'{"n":' + b"9" * 5000 + b"}", "invalid JSON"),  # past Python's int-string limit
        (b"[1, 2]", "JSON value is a list, not an object"),
        (b"", "empty message"),
    ],
)
def test_json_oddities_are_decode_errors(value: bytes, expected: str) -> None:
    """Invalid UTF-8, surrogates, huge numbers and non-objects are DecodeErrors."""
    assert expected in reason(Decoder("t", "json"), value)


def test_avro_with_invalid_utf8_is_a_decode_error() -> None:
    """A string field that is not UTF-8 fails as a DecodeError, not UnicodeDecodeError."""
    good = encoding.avro(plate_event("ABC123", camera="cam-1"), PLATE_SCHEMA)
    bad = good.replace(b"cam-1", b"cam\xff1")
    assert "UnicodeDecodeError" in reason(Decoder("t", "avro", PLATE_SCHEMA), bad)


def test_jsonable_copies_deep_values_without_recursion_and_nulls_non_finite_numbers() -> None:
    """jsonable handles 5,000 levels, and NaN/Infinity become null (never invalid JSON)."""
    deep: Any = [1.5]
    for _ in range(5000):
        deep = [deep]
    copied = jsonable({"deep": deep, "bad": [float("nan"), float("-inf")]})
    assert copied["bad"] == [None, None]
    assert json.dumps(copied["bad"], allow_nan=False) == "[null, null]"
    inner = copied["deep"]
    for _ in range(5000):
        inner = inner[0]
    assert inner == [1.5]


def test_jsonable_keeps_order_and_converts_avro_types() -> None:
    """Datetimes, bytes and keys come out as JSON types, in the original order."""
    at = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert jsonable({"b": at, "a": b"\x00\x01", "c": (1, {"d": 2})}) == {
        "b": "2024-01-02T03:04:05+00:00",
        "a": "AAE=",
        "c": [1, {"d": 2}],
    }
