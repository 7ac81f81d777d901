"""PacketTotal API compatibility (``/compat/packettotal/v1``): the read routes."""

from pcaptotal_search_api.compat.routes import create_compat_router

__all__ = ["create_compat_router"]
