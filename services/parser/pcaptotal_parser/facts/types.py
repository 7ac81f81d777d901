"""The shape of a protocol fact: (flow field name, value).

A name containing ``{side}`` is directional: the flow builder replaces it by ``client`` or
``server`` according to who sent the packet (known only once the flow's initiator is).
"""

from __future__ import annotations

# An object's (key, value) pairs in ECS order (``dns.question`` / ``dns.answers``): hashable, so
# a flow keeps each distinct object once; the flow document turns it into a dict.
ObjectValue = tuple[tuple[str, str | int], ...]
Fact = tuple[str, str | int | bool | ObjectValue]

SIDE = "{side}"
