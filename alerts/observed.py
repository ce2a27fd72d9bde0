"""What the stateful stages read of one decoded event of a batch."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from contract.notification import Source


class Observed(Protocol):
    """One decoded event of the batch (``ingest.pipeline.Decoded``, a floor above)."""

    @property
    def event(self) -> Mapping[str, object]: ...
    @property
    def source(self) -> Source: ...
