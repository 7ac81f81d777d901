"""Parameters the search API's routes share: the context dependency and the capture id."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Query
from pcaptotal.context import Context
from pcaptotal.web import get_context, quote_input

SHA256 = re.compile(r"^[0-9a-f]{64}$")
CtxDep = Annotated[Context, Depends(get_context)]
# Documented, not enforced by FastAPI: check_id answers a bad id with a 400 that says why.
ID_SCHEMA = {"pattern": SHA256.pattern}
CaptureId = Annotated[
    str, Path(description="the capture's SHA-256 (hex)", json_schema_extra=ID_SCHEMA)
]
# ``?capture=``: a search restricted to one capture (checked with check_id by the route).
CaptureFilter = Annotated[
    str | None, Query(description="restrict to one capture id", json_schema_extra=ID_SCHEMA)
]


def check_id(capture_id: str) -> str:
    if not SHA256.fullmatch(capture_id):
        raise HTTPException(
            400,
            f"capture id must be 64 lowercase hex digits (SHA-256), got {quote_input(capture_id)}",
        )
    return capture_id


async def existing_capture(ctx: Context, capture_id: str) -> dict[str, object]:
    """The capture document; 400 for a bad id, 404 for an unknown one."""
    doc = await ctx.captures.get(check_id(capture_id))
    if doc is None:
        raise HTTPException(404, f"no capture {capture_id}")
    return doc
