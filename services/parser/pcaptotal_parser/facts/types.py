"""The shape of a protocol fact: (flow field name, value).

A name containing ``{side}`` is directional: the flow builder replaces it by ``client`` or
``server`` according to who sent the packet (known only once the flow's initiator is).
"""

from __future__ import annotations

Fact = tuple[str, str | int | bool]

SIDE = "{side}"
