"""The cross-capture routes: indicator pivots, similar captures, stats, archives and the
capture context."""

from __future__ import annotations

from fastapi import APIRouter

from pcaptotal_search_api.archives import add_archive_routes
from pcaptotal_search_api.indicators import add_indicator_routes
from pcaptotal_search_api.similar import add_similar_routes
from pcaptotal_search_api.stats import add_stats_routes
from pcaptotal_search_api.views import GuardFor


def add_cross_routes(router: APIRouter, guard_for: GuardFor) -> None:
    add_indicator_routes(router, guard_for)
    add_similar_routes(router, guard_for)
    add_stats_routes(router, guard_for)
    add_archive_routes(router, guard_for)
