"""``DELETE /v1/captures/{id}``: the capture, its records, blobs and unshared carved files."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from pcaptotal.deletion import CaptureBusy, delete_capture
from pcaptotal.web import error_responses
from pydantic import BaseModel, ConfigDict, Field

from pcaptotal_search_api.params import CaptureId, CtxDep, existing_capture


class DeletedView(BaseModel):
    model_config = ConfigDict(extra="forbid")

    capture_id: str = Field(pattern="^[0-9a-f]{64}$", description="the capture deleted")
    records: int = Field(ge=0, description="records removed (every dataset)")
    blobs: list[str] = Field(description="blob keys removed (capture, derived, carved files)")
    files_kept: list[str] = Field(
        description="SHA-256 of carved files kept because another capture has them too"
    )


def add_delete_route(router: APIRouter) -> None:
    @router.delete(
        "/v1/captures/{capture_id}",
        response_model=DeletedView,
        tags=["captures"],
        responses=error_responses(
            {
                400: "a capture id that is not 64 lowercase hex digits",
                404: "no capture with this id",
                409: "the capture is still being analysed; delete it once it is done or failed",
                503: "",
            }
        ),
    )
    async def delete(capture_id: CaptureId, ctx: CtxDep) -> DeletedView:
        """Delete the capture: its stored bytes, every record of every dataset, its derived
        blobs and the carved files no other capture has. Owner or admin only."""
        await existing_capture(ctx, capture_id)  # 400/404 (and what the caller may see)
        try:
            done = await delete_capture(ctx.index, ctx.blobs, capture_id)
        except CaptureBusy as exc:
            raise HTTPException(409, str(exc)) from None
        if done is None:
            raise HTTPException(404, f"no capture {capture_id}")
        return DeletedView(
            capture_id=capture_id,
            records=done.records,
            blobs=done.blobs,
            files_kept=done.files_kept,
        )
