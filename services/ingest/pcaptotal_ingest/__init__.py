"""Ingest: the upload API (validate, hash, store, publish)."""

from pcaptotal_ingest.api import CaptureAccepted, create_router
from pcaptotal_ingest.compat import create_compat_upload_router

__all__ = ["CaptureAccepted", "create_compat_upload_router", "create_router"]
