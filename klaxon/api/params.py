"""Query and path parameters the routes share, bounded before they reach the database."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

# A path or query value longer than this is refused before it reaches the database.
MAX_ID = 200

Limit = Annotated[int, Query(ge=1, le=500, description="Items per page")]
Cursor = Annotated[str | None, Query(max_length=MAX_ID, description="next_cursor of the last page")]
Since = Annotated[float | None, Query(ge=0, le=1e11, description="Unix seconds")]
Ident = Annotated[str | None, Query(max_length=MAX_ID)]
PathId = Annotated[str, Path(max_length=MAX_ID)]
