"""The tshark sandbox lives in ``pcaptotal.sandbox`` (the search API boxes tshark too)."""

from pcaptotal.sandbox import (
    DEFAULT_USER,
    Limits,
    Sandbox,
    SandboxError,
    default,
    resolve_user,
)

__all__ = ["DEFAULT_USER", "Limits", "Sandbox", "SandboxError", "default", "resolve_user"]
