"""The demo stream: plates from several cameras and aquarium readings, at a gentle rate.

Plates arrive about twice a second; the first few are scripted so that a watchlist hit and a
burst of stolen-pattern plates (``STOLEN_BURST`` of them, from every camera, which
config/dev.yaml groups into one Slack message per camera) come within seconds, then hits
are drawn at random. Every second each
tank probe reports; the display tank overheats and the frag tank's pH drops within the first
15 seconds of every 40, and both recover (see ``events.PROBES``).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from klaxon.devstack.encode import Encoder, default_format, make_encoder
from klaxon.devstack.events import (
    PLATE_TOPIC,
    READING_TOPIC,
    PlateGenerator,
    ReadingGenerator,
)
from klaxon.devstack.publish import EventPublisher

log = logging.getLogger(__name__)

# Stolen-pattern plates sent at once as the third plate: a burst for the grouped rule.
STOLEN_BURST = 12
STOLEN_BURST_AT = 3


class Demo:
    def __init__(
        self,
        bootstrap: str,
        watchlist: Sequence[str],
        *,
        registry_url: str | None = None,
        seconds: float | None = None,
        plates_per_second: float = 2.0,
        reading_interval: float = 1.0,
        seed: int | None = None,
    ) -> None:
        self.bootstrap = bootstrap
        self.watchlist = tuple(watchlist)
        self.registry_url = registry_url
        self.seconds = seconds
        self.plates_per_second = plates_per_second
        self.reading_interval = reading_interval
        self.rng = random.Random(seed)  # noqa: S311 - demo data, not secrets
        self.plates_sent = 0
        self.readings_sent = 0
        self.error: str | None = None
        self.finished = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dev-demo", daemon=True)

    @property
    def fmt(self) -> str:
        return default_format(self.registry_url)

    def start(self) -> Demo:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def scripted_plate(self, generator: PlateGenerator, index: int) -> str | None:
        """The first plates: a watchlist hit, the first of a stolen-pattern burst, another hit."""
        script: dict[int, Callable[[], str]] = {
            1: lambda: self.watchlist[0] if self.watchlist else generator.random_plate(),
            STOLEN_BURST_AT: generator.stolen_plate,
            5: lambda: self.watchlist[-1] if self.watchlist else generator.random_plate(),
        }
        make = script.get(index)
        return make() if make else None

    def _run(self) -> None:
        try:
            self._produce()
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            log.exception("the demo stream stopped")
        finally:
            self.finished.set()

    def _produce(self) -> None:
        fmt = default_format(self.registry_url)
        encoders: dict[str, Encoder] = {
            PLATE_TOPIC: make_encoder(fmt, "plates", PLATE_TOPIC, self.registry_url),
            READING_TOPIC: make_encoder(fmt, "readings", READING_TOPIC, self.registry_url),
        }
        publisher = EventPublisher(self.bootstrap, linger_ms=0)
        plates = PlateGenerator(self.rng, self.watchlist, hit_rate=0.06, stolen_rate=0.03)
        readings = ReadingGenerator(self.rng)
        started = time.monotonic()
        next_plate = next_reading = 0.0
        try:
            while not self._stop.is_set():
                elapsed = time.monotonic() - started
                if self.seconds is not None and elapsed >= self.seconds:
                    break
                if elapsed >= next_reading:
                    for event in readings.at(elapsed):
                        self._send(publisher, encoders, READING_TOPIC, event, event["device_id"])
                        self.readings_sent += 1
                    next_reading += self.reading_interval
                if elapsed >= next_plate:
                    plate = self.scripted_plate(plates, self.plates_sent)
                    event = plates.event(plate)
                    self._send(publisher, encoders, PLATE_TOPIC, event, event["camera_id"])
                    if self.plates_sent == STOLEN_BURST_AT:
                        for _ in range(STOLEN_BURST - 1):
                            extra = plates.event(plates.stolen_plate())
                            self._send(publisher, encoders, PLATE_TOPIC, extra, extra["camera_id"])
                    self.plates_sent += 1
                    # Irregular arrivals around the mean rate, as traffic is.
                    next_plate += self.rng.expovariate(self.plates_per_second)
                self._stop.wait(max(0.0, min(next_plate, next_reading) - elapsed))
        finally:
            publisher.flush(5)
        if publisher.failed:
            self.error = f"{publisher.failed} event(s) not delivered: {publisher.first_error}"

    @staticmethod
    def _send(
        publisher: EventPublisher,
        encoders: dict[str, Encoder],
        topic: str,
        event: dict[str, Any],
        key: str,
    ) -> None:
        publisher.send(topic, encoders[topic](event), key.encode())
