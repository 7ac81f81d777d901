"""Who is calling: set per request by the access dependency, read below the routes."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

from pcaptotal.access.roles import Role


@dataclass(frozen=True, slots=True)
class Identity:
    owner: str
    role: Role
    key_id: str | None  # None when auth is off

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


# None: nobody authenticated (a public route without a key): sees public data only.
current_identity: ContextVar[Identity | None] = ContextVar("current_identity", default=None)

# Every request when PCAPTOTAL_AUTH=off (loopback only): one local admin.
LOCAL_ADMIN = Identity(owner="local", role=Role.ADMIN, key_id=None)
