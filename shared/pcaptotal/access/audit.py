"""The audit log: admin actions, as JSON log lines on the ``pcaptotal.audit`` logger.

Who (owner and key id), what (action, target), when (the log line's timestamp), and the
outcome; never a key or other secret.
"""

from __future__ import annotations

from typing import Any

import structlog

from pcaptotal.access.identity import Identity

_log = structlog.get_logger("pcaptotal.audit")


def audit(who: Identity | str | None, action: str, outcome: str, **target: Any) -> None:
    if isinstance(who, Identity):
        actor: dict[str, Any] = {"actor": who.owner, "actor_key_id": who.key_id}
    else:
        actor = {"actor": who or "anonymous", "actor_key_id": None}
    _log.info("audit", audit=True, action=action, outcome=outcome, **actor, **target)
