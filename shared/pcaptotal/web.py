"""Small FastAPI helpers the HTTP services share."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from pcaptotal.context import Context


def get_context(request: Request) -> Context:
    """The adapters the composition root put on the app at startup (``app.state.ctx``)."""
    ctx: Context = request.app.state.ctx
    return ctx


def binary_upload_body(description: str, *media_types: str) -> dict[str, Any]:
    """OpenAPI for a body read as a stream (raw bytes or a multipart ``file`` field), since
    such a handler cannot declare the body as a parameter."""
    binary = {"schema": {"type": "string", "format": "binary"}}
    content: dict[str, Any] = {t: binary for t in ("application/octet-stream", *media_types)}
    content["multipart/form-data"] = {
        "schema": {
            "type": "object",
            "required": ["file"],
            "properties": {"file": {"type": "string", "format": "binary"}},
        }
    }
    return {"requestBody": {"required": True, "description": description, "content": content}}
