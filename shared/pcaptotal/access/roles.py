"""Roles and the one table of which role each HTTP route needs.

Every route of every app is looked up here by (method, path template). A route missing from
the table needs ``admin`` (fail closed): a route someone adds later is closed until it is
listed, never open by accident. ``tests/unit/test_access_roles.py`` checks that every operation
of the OpenAPI document has an entry.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    READER = "reader"  # read captures, records, exports of what it may see
    SUBMITTER = "submitter"  # reader + upload captures
    ADMIN = "admin"  # everything, every capture; feeds, keys

    @property
    def rank(self) -> int:
        return _RANK[self]

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


_RANK = {Role.READER: 1, Role.SUBMITTER: 2, Role.ADMIN: 3}

# None: no key needed (probes and Prometheus scrape these).
PUBLIC: None = None
_R, _S, _A = Role.READER, Role.SUBMITTER, Role.ADMIN
_CAPTURE = "/v1/captures/{capture_id}"
_PT = "/compat/packettotal/v1"

ROUTE_ROLES: dict[tuple[str, str], Role | None] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    # ingest
    ("POST", "/v1/captures"): _S,
    # captures, records, views, exports (each answers only what the caller may see)
    ("GET", "/v1/captures"): _R,
    ("GET", _CAPTURE): _R,
    ("GET", f"{_CAPTURE}/download"): _R,
    ("GET", f"{_CAPTURE}/indicators.stix"): _R,
    ("GET", f"{_CAPTURE}/rules"): _R,
    ("GET", f"{_CAPTURE}/flows"): _R,
    ("GET", f"{_CAPTURE}/dns"): _R,
    ("GET", f"{_CAPTURE}/http"): _R,
    ("GET", f"{_CAPTURE}/tls"): _R,
    ("GET", f"{_CAPTURE}/files"): _R,
    ("GET", f"{_CAPTURE}/findings"): _R,
    ("GET", f"{_CAPTURE}/timeline"): _R,
    ("GET", f"{_CAPTURE}/analysis"): _R,
    ("GET", f"{_CAPTURE}/similar"): _R,
    ("GET", f"{_CAPTURE}/pcap"): _R,
    ("GET", f"{_CAPTURE}/flows/{{flow_id}}/pcap"): _R,
    ("GET", f"{_CAPTURE}/packets/{{n}}"): _R,
    ("GET", f"{_CAPTURE}/files/{{sha256}}"): _R,
    ("GET", f"{_CAPTURE}/bundle.zip"): _R,
    ("DELETE", _CAPTURE): _A,  # deletion and retention are admin only
    ("GET", "/v1/indicators/{value}"): _R,
    ("GET", "/v1/stats"): _R,
    ("GET", "/v1/archives"): _R,
    ("GET", "/v1/archives/{name}"): _R,
    ("GET", "/v1/archives/{name}/bundle.zip"): _R,  # the captures the caller may see
    # curated archives: admins make them and choose their captures
    ("PUT", "/v1/archives/{name}"): _A,
    ("DELETE", "/v1/archives/{name}"): _A,
    ("PUT", "/v1/archives/{name}/captures/{capture_id}"): _A,
    ("DELETE", "/v1/archives/{name}/captures/{capture_id}"): _A,
    # the owner (or an admin) edits a capture's context; the route checks the owner
    ("PATCH", f"{_CAPTURE}/context"): _S,
    ("GET", "/v1/search"): _R,
    ("GET", "/v1/search/export"): _R,
    ("GET", "/v1/fields"): _R,
    ("GET", "/v1/rules"): _R,
    # threat-intel feeds: anyone may read them, only admins change them
    ("GET", "/v1/intel/feeds"): _R,
    ("GET", "/v1/intel/feeds/{name}"): _R,
    ("POST", "/v1/intel/feeds"): _A,
    ("DELETE", "/v1/intel/feeds/{name}"): _A,
    # PacketTotal compatibility (pcaptotal_ingest.compat, pcaptotal_search_api.compat)
    ("POST", f"{_PT}/analyze/base64"): _S,
    ("POST", f"{_PT}/pcaps/analyze"): _S,
    ("GET", f"{_PT}/pcaps/{{md5}}"): _R,
    ("GET", f"{_PT}/pcaps/{{md5}}/analysis"): _R,
    ("GET", f"{_PT}/pcaps/{{md5}}/download"): _R,
    ("GET", f"{_PT}/pcaps/{{md5}}/similar"): _R,
    ("GET", f"{_PT}/search"): _R,
    ("POST", f"{_PT}/search/deep"): _R,  # a search, run later: reads only
    ("GET", f"{_PT}/search/deep/results/{{search_id}}"): _R,
    ("GET", f"{_PT}/usage"): _R,
    # key management
    ("GET", "/v1/keys"): _A,
    ("POST", "/v1/keys"): _A,
    ("DELETE", "/v1/keys/{key_id}"): _A,
}


def required_role(method: str, path_template: str) -> Role | None:
    """The role a route needs (None: no key); unlisted routes need admin."""
    method = "GET" if method == "HEAD" else method.upper()
    return ROUTE_ROLES.get((method, path_template), Role.ADMIN)


def listed(method: str, path_template: str) -> bool:
    return (method.upper(), path_template) in ROUTE_ROLES
