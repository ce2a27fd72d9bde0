"""Properties over generated inputs: decoding is total, and so is what runs on an event.

Each property runs a fixed number of examples (``EXAMPLES``), derandomised so that a run
is repeatable; ``pytest --hypothesis-show-statistics`` prints what was tried.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import fastavro
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contract.channels import CHANNELS
from contract.errors import DecodeError
from contract.jsonsafe import jsonable
from ingest.decoding import Decoder
from rules.config import MAX_DEPTH_CEILING
from rules.operators import OPERATORS, compile_condition
from rules.templates import compile_template

SCHEMAS = sorted((Path(__file__).resolve().parents[2] / "schemas").glob("*.avsc"))
PARSED = {path.name: fastavro.parse_schema(json.loads(path.read_text())) for path in SCHEMAS}

EXAMPLES = {"bytes": 400, "framed": 300, "json_bytes": 200, "events": 200}


def examples(kind: str) -> settings:
    return settings(
        max_examples=EXAMPLES[kind],
        # Generous: a deadline catches a pathological input, not a busy machine.
        deadline=dt.timedelta(seconds=2),
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


class Registry:
    """In-process writer schemas by id, as ``SchemaRegistry.schema`` gives them."""

    def __init__(self) -> None:
        self.by_id = dict(enumerate(PARSED.values(), start=1))

    def schema(self, schema_id: int) -> Any:
        if schema_id not in self.by_id:
            raise DecodeError(f"schema id {schema_id} is not in the registry")
        return self.by_id[schema_id]


def decoders() -> list[Decoder]:
    registry = Registry()
    found = [Decoder("t", "json"), Decoder("t", "registry", registry=registry)]
    found += [Decoder("t", "avro", schema) for schema in PARSED.values()]
    found += [Decoder("t", "auto", schema, registry) for schema in PARSED.values()]
    return found


DECODERS = decoders()


def assert_event_or_decode_error(decoder: Decoder, value: bytes) -> None:
    try:
        event = decoder.decode(value)
    except DecodeError:
        return
    assert isinstance(event, dict)
    # Whatever was accepted is sendable as strict JSON once made JSON-safe.
    json.dumps(jsonable(event), allow_nan=False)


# -- any bytes into every decoder ------------------------------------------------------------


@examples("bytes")
@given(st.binary(max_size=2048))
def test_any_bytes_give_every_decoder_an_event_or_a_decode_error(value: bytes) -> None:
    """JSON, schemaless Avro (each schema), registry-framed and auto: event or DecodeError."""
    for decoder in DECODERS:
        assert_event_or_decode_error(decoder, value)


@examples("framed")
@given(st.integers(0, 5), st.binary(max_size=1024))
def test_registry_framed_bytes_with_a_known_id_give_an_event_or_a_decode_error(
    schema_id: int, payload: bytes
) -> None:
    """Magic byte, a schema id the registry may know, then any Avro bytes."""
    value = b"\x00" + schema_id.to_bytes(4, "big") + payload
    for decoder in DECODERS:
        assert_event_or_decode_error(decoder, value)


# -- JSON-ish events -------------------------------------------------------------------------

KEYS = st.sampled_from(["a", "b", "c", "0", "value", "camera_id"]) | st.text(max_size=8)
FLOATS = st.floats(allow_nan=True, allow_infinity=True)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)  # what orjson and Avro longs can produce
    | FLOATS
    | st.text(max_size=20)
)
TREES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=20,
)


def nest(value: Any, depth: int, as_list: bool) -> Any:
    for _ in range(depth):
        value = [value] if as_list else {"a": value}
    return value


# Up to 600 deep: past the deepest any topic may allow (MAX_DEPTH_CEILING = 512).
DEEP = st.builds(nest, TREES, st.integers(0, 600), st.booleans())
EVENTS = st.dictionaries(KEYS, TREES | DEEP, max_size=5)


@examples("json_bytes")
@given(EVENTS)
def test_json_text_of_any_event_decodes_to_strict_json_or_a_decode_error(
    event: dict[str, Any],
) -> None:
    """Serialised by the standard library (NaN and Infinity included): event or DecodeError."""
    value = json.dumps(event).encode()
    for decoder in DECODERS[:1]:
        assert_event_or_decode_error(decoder, value)


VALUES: dict[str, list[Any]] = {
    "equals": ["x", 1, 1.5, True],
    "not_equals": ["x", 0, False],
    "contains": ["a", 1, True],
    "regex": ["^a", "(x|y)+$"],
    "in_list": [["x", "y"], [1, 2.5, True]],
    "not_in_list": [["x"], [0, False]],
    "greater_than": [0, 1.5],
    "less_than": [0, -1.5],
    "greater_or_equal": [0],
    "less_or_equal": [0],
    "exists": [True, False],
}
FIELDS = ["a", "a.b", "a.0", "b.0.c", "value", "camera_id"]
CONDITIONS = [
    compile_condition(field, operator, value)
    for operator, values in VALUES.items()
    for value in values
    for field in FIELDS
]
TEMPLATE = compile_template(
    "{a} | {a.b} | {a.0} | {b.0.c} | {value} | {camera_id} {{literal}} {rule_id}"
)
ESCAPES = [escape for spec in CHANNELS.values() for escape in spec.variants.values()]


def test_every_operator_is_covered() -> None:
    """The operator property below compiles every operator there is."""
    assert set(VALUES) == set(OPERATORS)


@examples("events")
@given(EVENTS)
def test_operators_templates_and_jsonable_never_raise_on_any_event(
    event: dict[str, Any],
) -> None:
    """Every operator gives a bool, every template variant a str, jsonable strict JSON."""
    for condition in CONDITIONS:
        assert isinstance(condition.test(event), bool)
    extra = {"rule_id": "r1"}
    assert isinstance(TEMPLATE.render(event, extra), str)
    for escape in ESCAPES:
        assert isinstance(TEMPLATE.render(event, extra, escape), str)
    safe = jsonable(event)
    json.dumps(safe, allow_nan=False)
    assert all(not isinstance(v, float) or math.isfinite(v) for v in safe.values())


def test_the_depth_ceiling_is_within_what_the_properties_try() -> None:
    """The generated nesting goes past the deepest limit a topic may set."""
    assert MAX_DEPTH_CEILING < 600


@pytest.mark.parametrize("name", sorted(PARSED))
def test_every_repo_schema_is_among_the_decoders(name: str) -> None:
    """Each schemas/*.avsc has a schemaless decoder and a registry id in the properties."""
    assert any(d.local_schema is PARSED[name] for d in DECODERS)
    assert PARSED[name] in Registry().by_id.values()
