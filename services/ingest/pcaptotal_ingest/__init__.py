"""Ingest service: the upload API. Validates, hashes and stores captures, then queues them."""

from pcaptotal_ingest.api import CaptureAccepted, create_router, get_context

__all__ = ["CaptureAccepted", "create_router", "get_context"]
