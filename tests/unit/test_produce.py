"""Demo event generators and encoders: schema-valid events that exercise config/dev.yaml."""

from __future__ import annotations

import io
import json
import random
import re
from collections.abc import Iterator
from typing import Any

import fastavro
import pytest
import yaml
from fastavro.validation import validate

from contract.settings import PROJECT_ROOT
from ingest.decoding import MAGIC_BYTE
from klaxon.devstack.encode import make_encoder, schema_path
from klaxon.devstack.events import (
    CYCLE_SECONDS,
    PROBES,
    STOLEN_PREFIX,
    PlateGenerator,
    ReadingGenerator,
)
from tests.support.schema_registry import SchemaRegistryDouble

PLATE_SCHEMA = fastavro.parse_schema(json.loads(schema_path("plates").read_text()))
READING_SCHEMA = fastavro.parse_schema(json.loads(schema_path("readings").read_text()))
DEV_RULES = {
    rule["id"]: rule
    for rule in yaml.safe_load((PROJECT_ROOT / "config" / "dev.yaml").read_text())["rules"]
}
WATCHLIST = DEV_RULES["watchlist_plate"]["conditions"][0]["value"]


@pytest.fixture
def registry() -> Iterator[SchemaRegistryDouble]:
    double = SchemaRegistryDouble()
    yield double
    double.close()


def plates(count: int, hit_rate: float = 0.1, stolen_rate: float = 0.05) -> list[dict[str, Any]]:
    generator = PlateGenerator(random.Random(7), WATCHLIST, hit_rate, stolen_rate)
    return [generator.event() for _ in range(count)]


def decode(data: bytes, schema: Any) -> Any:
    return fastavro.schemaless_reader(io.BytesIO(data), schema, schema)


def test_plate_events_validate_against_the_avro_schema() -> None:
    """Every generated plate event is valid for schemas/plate_event.avsc."""
    for event in plates(500):
        assert validate(event, PLATE_SCHEMA, raise_errors=True)


def test_reading_events_validate_against_the_avro_schema() -> None:
    """Every generated reading is valid for schemas/device_reading.avsc."""
    generator = ReadingGenerator(random.Random(3))
    for second in range(int(CYCLE_SECONDS) * 2):
        for event in generator.at(float(second)):
            assert validate(event, READING_SCHEMA, raise_errors=True)


def test_watchlist_hits_follow_the_hit_rate() -> None:
    """About hit_rate of the plates come from the watchlist; the others never do."""
    events = plates(4000, hit_rate=0.2, stolen_rate=0.0)
    hits = sum(e["plate"]["normalized_text"] in WATCHLIST for e in events)
    assert 0.16 < hits / len(events) < 0.24


def test_plate_text_normalises_to_normalized_text() -> None:
    """The OCR text differs from normalized_text only by spaces and dashes."""
    for event in plates(300):
        plate = event["plate"]
        assert re.sub(r"[\s-]", "", plate["text"]) == plate["normalized_text"]
        assert plate["normalized_text"].isupper() or plate["normalized_text"].isdigit()


def test_only_stolen_plates_match_the_stolen_vehicle_rule() -> None:
    """Stolen-pattern plates match dev.yaml's regex; random plates and watchlist plates do not."""
    pattern = re.compile(DEV_RULES["stolen_vehicle"]["conditions"][0]["value"])
    generator = PlateGenerator(random.Random(11), WATCHLIST)
    assert all(pattern.search(generator.stolen_plate()) for _ in range(200))
    assert not any(pattern.search(generator.random_plate()) for _ in range(2000))
    assert not any(pattern.search(plate) for plate in WATCHLIST)
    assert generator.stolen_plate().startswith(STOLEN_PREFIX)


def crossings(device: str, metric: str) -> list[float]:
    probe = next(p for p in PROBES if p.device_id == device and p.metric == metric)
    return [probe.value_at(tenth / 10) for tenth in range(int(CYCLE_SECONDS * 10))]


def test_display_tank_overheats_and_recovers_within_a_cycle() -> None:
    """The display tank crosses tank_temperature_high's threshold, then its resolve threshold."""
    rule = DEV_RULES["tank_temperature_high"]
    values = crossings("display-tank", "temperature")
    first_high = next(i for i, v in enumerate(values) if v > rule["threshold"])
    assert first_high / 10 < 8, "the alert should trigger early in the cycle"
    resolved = next(
        i for i, v in enumerate(values) if i > first_high and v < rule["resolve_threshold"]
    )
    assert resolved / 10 < 15, "the alert should resolve within 15 s"


def test_frag_tank_ph_drops_and_recovers_within_a_cycle() -> None:
    """The frag tank's pH falls under tank_ph_low's threshold, then rises past its resolve one."""
    rule = DEV_RULES["tank_ph_low"]
    values = crossings("frag-tank", "ph")
    first_low = next(i for i, v in enumerate(values) if v < rule["threshold"])
    resolved = next(
        i for i, v in enumerate(values) if i > first_low and v > rule["resolve_threshold"]
    )
    assert first_low / 10 < 10
    assert resolved / 10 < 16


def test_other_probes_stay_within_their_thresholds() -> None:
    """Only the scripted excursions alert: the other two probes never cross, noise included."""
    temperature = DEV_RULES["tank_temperature_high"]["threshold"]
    ph = DEV_RULES["tank_ph_low"]["threshold"]
    assert max(crossings("frag-tank", "temperature")) + 0.05 < temperature
    assert min(crossings("display-tank", "ph")) - 0.05 > ph


def test_avro_encoder_round_trips() -> None:
    """Schemaless Avro decodes with the same local schema."""
    event = plates(1)[0]
    decoded = decode(make_encoder("avro", "plates", "alpr.plates.detected")(event), PLATE_SCHEMA)
    # The optional candidates field decodes as null when the producer leaves it out.
    assert decoded["plate"] == pytest.approx({"candidates": None, **event["plate"]})
    assert decoded["event_id"] == event["event_id"]


def test_json_encoder_writes_the_event_as_json() -> None:
    """JSON encoding is the event itself."""
    reading = ReadingGenerator(random.Random(1)).at(0.0)[0]
    assert json.loads(make_encoder("json", "readings", "devices.readings")(reading)) == reading


def test_registry_encoder_registers_and_frames(registry: SchemaRegistryDouble) -> None:
    """Registry framing registers <topic>-value and prefixes magic byte and schema id."""
    reading = ReadingGenerator(random.Random(1)).at(0.0)[0]
    data = make_encoder("registry", "readings", "devices.readings", registry.url)(reading)
    assert data[0] == MAGIC_BYTE
    schema_id = int.from_bytes(data[1:5], "big")
    assert schema_id >= 1
    assert decode(data[5:], READING_SCHEMA)["device_id"] == reading["device_id"]


def test_registry_encoder_needs_a_registry() -> None:
    """Registry framing without a registry URL is a clear error."""
    with pytest.raises(ValueError, match="SCHEMA_REGISTRY_URL"):
        make_encoder("registry", "plates", "alpr.plates.detected", None)
