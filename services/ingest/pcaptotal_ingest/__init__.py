"""Ingest: the upload API (validate, hash, store, publish)."""

from pcaptotal_ingest.api import CaptureAccepted, create_router

__all__ = ["CaptureAccepted", "create_router"]
