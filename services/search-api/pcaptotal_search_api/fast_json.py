"""A ``JSONResponse`` serialised by orjson, for answers of many stored records.

Starlette's ``json.dumps`` was the largest share of a search's CPU on the event loop (~0.7 ms
for 50 hits, more than routing, access and the middlewares together). orjson writes the same
compact UTF-8 JSON (the same values, keys in the same order); what it cannot write (an integer
beyond 64 bits, from a document ``json.loads`` read) falls back to the ``json`` module.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import JSONResponse


class FastJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        try:
            return orjson.dumps(content)
        except TypeError:  # orjson.JSONEncodeError is a TypeError
            return super().render(content)
