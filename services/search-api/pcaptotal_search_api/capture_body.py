"""``GET /v1/captures/{id}``'s JSON body, serialised once per capture and index generation.

The capture GET is the most frequent request. Building the ``CaptureView`` and having FastAPI
validate it again and serialise it was most of its CPU, for a body that only changes when the
capture document is written. So the route answers ``Response(body)``, with the bytes FastAPI
would have produced (``by_alias`` JSON of the same model), and keeps them in an
``AnswerCache``: only under the embedded index's ``generation`` (bumped by every write it
commits, the capture's among them), per viewer (visibility is decided by the viewer), and only
for captures that exist and are visible (a 404 is never kept).
"""

from __future__ import annotations

from fastapi import HTTPException
from fastapi.responses import Response
from pcaptotal.context import Context

from pcaptotal_search_api.answer_cache import AnswerCache
from pcaptotal_search_api.capture_view import CaptureView

JSON = "application/json"


class CaptureBodies:
    """One per router (``create_router``): bodies of recently read captures."""

    MAX_ENTRIES = 4096  # ~2.5 KB each

    def __init__(self) -> None:
        self._answers: AnswerCache[bytes] = AnswerCache(self.MAX_ENTRIES)

    async def response(self, ctx: Context, capture_id: str) -> Response:
        """The capture as ``CaptureView`` JSON; 404 when unknown or not visible to the caller
        (``capture_id`` already checked)."""

        async def body() -> bytes:
            doc = await ctx.captures.get(capture_id)
            if doc is None:
                raise HTTPException(404, f"no capture {capture_id}")
            return CaptureView.from_document(doc).model_dump_json(by_alias=True).encode()

        return Response(
            await self._answers.get_or_compute(ctx.index, capture_id, body), 200, media_type=JSON
        )
