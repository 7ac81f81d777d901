"""The verdicts a capture and a flow can get (messages, record schemas and the API share
them)."""

from __future__ import annotations

from typing import Literal

Verdict = Literal["clean", "suspicious", "malicious"]
VERDICTS: tuple[Verdict, ...] = ("clean", "suspicious", "malicious")
