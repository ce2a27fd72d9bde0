"""Realistic demo events: plate detections and aquarium readings, as in ``schemas/*.avsc``.

Plates come from a handful of cameras at a few sites; a share of them are on the watchlist
or match the stolen-vehicle pattern of ``config/dev.yaml``. Readings follow a repeating
40-second profile per tank and metric in which the display tank overheats and the frag tank's
pH drops, each crossing its threshold and recovering, so alerts trigger and resolve.
"""

from __future__ import annotations

import itertools
import random
import string
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

PLATE_TOPIC = "alpr.plates.detected"
READING_TOPIC = "devices.readings"
DEFAULT_WATCHLIST = ("ABC123", "XYZ789")
# config/dev.yaml's stolen_vehicle rule: a witness's partial plate, ``^7GX[0-9]{3}$``.
STOLEN_PREFIX = "7GX"


@dataclass(frozen=True)
class Camera:
    camera_id: str
    site_id: str
    lanes: int
    direction: str | None


CAMERAS = (
    Camera("cam-north-gate-01", "depot-north", 2, "IN"),
    Camera("cam-north-gate-02", "depot-north", 2, "OUT"),
    Camera("cam-main-st-04", "main-street", 3, None),
    Camera("cam-harbor-bridge-07", "harbor-bridge", 4, "UNKNOWN"),
    Camera("cam-mall-exit-11", "westfield-mall", 1, "OUT"),
)
VEHICLES = (
    ("Toyota", "Corolla", "car"),
    ("Honda", "Civic", "car"),
    ("Tesla", "Model 3", "car"),
    ("Ford", "F-150", "pickup"),
    ("Chevrolet", "Express", "van"),
    ("Volvo", "FH16", "truck"),
    ("Subaru", "Outback", "car"),
    ("Kawasaki", "Ninja 650", "motorcycle"),
)
COLORS = ("white", "black", "silver", "gray", "blue", "red", "green")
REGIONS = ("US-CA", "US-CA", "US-CA", "US-NV", "US-OR", "US-AZ")


def now_ms() -> int:
    return int(time.time() * 1000)


def as_read(normalized: str, rng: random.Random) -> str:
    """The plate as OCR might print it: sometimes with a space or dash in the middle."""
    if len(normalized) < 6 or rng.random() < 0.5:
        return normalized
    cut = len(normalized) - 3
    return f"{normalized[:cut]}{rng.choice(' -')}{normalized[cut:]}"


class PlateGenerator:
    """Plate events; ``hit_rate`` of them watchlist plates, ``stolen_rate`` stolen-pattern ones."""

    def __init__(
        self,
        rng: random.Random,
        watchlist: Sequence[str] = DEFAULT_WATCHLIST,
        hit_rate: float = 0.1,
        stolen_rate: float = 0.0,
    ) -> None:
        self.rng = rng
        self.watchlist = tuple(watchlist)
        self.hit_rate = hit_rate
        self.stolen_rate = stolen_rate
        self.frame = rng.randrange(10_000, 90_000)

    def random_plate(self) -> str:
        """A plate that is neither on the watchlist nor stolen: 7ABC123 or ABC1234 style."""
        while True:
            letters = "".join(self.rng.choices(string.ascii_uppercase, k=3))
            digits = "".join(self.rng.choices(string.digits, k=3))
            if self.rng.random() < 0.6:
                plate = f"{self.rng.randrange(1, 10)}{letters}{digits}"
            else:
                plate = f"{letters}{digits}{self.rng.randrange(10)}"
            if plate not in self.watchlist and not plate.startswith(STOLEN_PREFIX):
                return plate

    def stolen_plate(self) -> str:
        return f"{STOLEN_PREFIX}{self.rng.randrange(1000):03d}"

    def watchlist_plate(self) -> str:
        return self.rng.choice(self.watchlist) if self.watchlist else self.random_plate()

    def next_plate(self) -> str:
        draw = self.rng.random()
        if draw < self.hit_rate:
            return self.watchlist_plate()
        if draw < self.hit_rate + self.stolen_rate:
            return self.stolen_plate()
        return self.random_plate()

    def event(self, plate: str | None = None, captured_at: int | None = None) -> dict[str, Any]:
        """One detection of ``plate`` (default: drawn by the rates) by a random camera."""
        rng = self.rng
        normalized = plate or self.next_plate()
        camera = rng.choice(CAMERAS)
        make, model, kind = rng.choice(VEHICLES)
        self.frame += rng.randrange(3, 40)
        event_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        width = rng.randrange(120, 260)
        return {
            "event_id": event_id,
            "camera_id": camera.camera_id,
            "track_id": f"trk-{rng.getrandbits(32):08x}",
            "captured_at": captured_at if captured_at is not None else now_ms(),
            "plate": {
                "text": as_read(normalized, rng),
                "normalized_text": normalized,
                "confidence": round(rng.uniform(0.82, 0.99), 3),
                "region": rng.choice(REGIONS),
            },
            "vehicle": {
                "color": rng.choice(COLORS),
                "make": make,
                "model": model,
                "type": kind,
            },
            "site_id": camera.site_id,
            "lane": rng.randrange(1, camera.lanes + 1),
            "direction": camera.direction,
            "speed_kmh": round(rng.uniform(8.0, 65.0), 1),
            "bbox": {
                "x": rng.randrange(100, 1500),
                "y": rng.randrange(300, 800),
                "width": width,
                "height": width // 4,
            },
            "image_url": f"https://cameras.example.com/{camera.camera_id}/{event_id}.jpg",
            "source_frame": self.frame,
            "attributes": {"ocr_engine": "demo-ocr-2", "site": camera.site_id},
        }


# -- readings ---------------------------------------------------------------------------------

CYCLE_SECONDS = 40.0


@dataclass(frozen=True)
class Probe:
    """One metric of one tank, following ``profile``: (second in the cycle, value) points."""

    device_id: str
    metric: str
    unit: str
    profile: tuple[tuple[float, float], ...]
    noise: float

    def value_at(self, seconds: float) -> float:
        """The profile's value ``seconds`` into the run, linear between points, cycling."""
        t = seconds % CYCLE_SECONDS
        points = self.profile
        for (t0, v0), (t1, v1) in itertools.pairwise(points):
            if t0 <= t <= t1:
                return v0 + (v1 - v0) * (t - t0) / (t1 - t0)
        return points[-1][1]


# The display tank overheats (> 27.5 from ~6 s, back under 27.0 by ~13 s in each cycle);
# the frag tank's pH falls under 7.8 from ~7 s and recovers above 7.9 by ~15 s.
PROBES = (
    Probe(
        "display-tank",
        "temperature",
        "C",
        ((0, 26.0), (3, 26.4), (7, 28.0), (10, 28.1), (14, 26.6), (22, 26.0), (40, 26.0)),
        0.03,
    ),
    Probe("display-tank", "ph", "pH", ((0, 8.2), (20, 8.25), (40, 8.2)), 0.01),
    Probe("frag-tank", "temperature", "C", ((0, 25.6), (20, 25.9), (40, 25.6)), 0.03),
    Probe(
        "frag-tank",
        "ph",
        "pH",
        ((0, 8.15), (4, 8.1), (8, 7.65), (12, 7.7), (16, 8.05), (40, 8.15)),
        0.01,
    ),
)


def reading(
    device_id: str,
    metric: str,
    value: float,
    *,
    unit: str | None = None,
    timestamp: int | None = None,
    metadata: dict[str, str | float | bool | None] | None = None,
) -> dict[str, Any]:
    """One reading in ``schemas/device_reading.avsc``'s shape."""
    return {
        "device_id": device_id,
        "metric": metric,
        "value": value,
        "json_value": None,
        "metadata": metadata,
        "timestamp": timestamp if timestamp is not None else now_ms(),
        "unit": unit,
    }


class ReadingGenerator:
    """Readings of every probe at a moment of the scenario, with a little noise."""

    def __init__(self, rng: random.Random, probes: Sequence[Probe] = PROBES) -> None:
        self.rng = rng
        self.probes = tuple(probes)

    def at(self, seconds: float, timestamp: int | None = None) -> list[dict[str, Any]]:
        stamp = timestamp if timestamp is not None else now_ms()
        return [
            reading(
                probe.device_id,
                probe.metric,
                round(probe.value_at(seconds) + self.rng.uniform(-probe.noise, probe.noise), 3),
                unit=probe.unit,
                timestamp=stamp,
                metadata={"site": "bellas-reef", "probe": f"{probe.device_id}-{probe.metric}"},
            )
            for probe in self.probes
        ]
