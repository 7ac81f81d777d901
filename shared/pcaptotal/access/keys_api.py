"""``/v1/keys``: create, list and revoke API keys (admin only, see ``roles``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, Response, status
from pydantic import BaseModel, Field

from pcaptotal.access.apikeys import OWNER_PATTERN, KeyStore, StoredKey, valid_id
from pcaptotal.access.audit import audit
from pcaptotal.access.identity import current_identity
from pcaptotal.access.roles import Role
from pcaptotal.web import error_responses


class KeyRequest(BaseModel):
    owner: str = Field(pattern=OWNER_PATTERN, description="who the key belongs to")
    role: Role


class KeyCreated(BaseModel):
    id: str
    key: str = Field(description="the API key; shown this once, only its hash is stored")
    owner: str
    role: Role


class KeyView(BaseModel):
    id: str
    owner: str
    role: Role
    created: datetime
    revoked: datetime | None


class KeyList(BaseModel):
    keys: list[KeyView]


def view(rec: StoredKey) -> KeyView:
    return KeyView(
        id=rec.id, owner=rec.owner, role=rec.role, created=rec.created, revoked=rec.revoked
    )


def _store(request: Request) -> KeyStore:
    store: KeyStore = request.app.state.access.store
    return store


KeyId = Annotated[
    str,
    Path(description="the key's id (pt_<id>_...)", json_schema_extra={"pattern": "^[0-9a-f]{16}$"}),
]


def create_keys_router() -> APIRouter:
    router = APIRouter(prefix="/v1/keys", tags=["keys"])

    @router.post(
        "",
        status_code=status.HTTP_201_CREATED,
        response_model=KeyCreated,
        responses=error_responses({400: "the body is not JSON", 503: ""}),
    )
    async def create_key(body: KeyRequest, request: Request) -> KeyCreated:
        """A new API key for ``owner`` with ``role``; the key is in this answer only."""
        rec, key = await _store(request).create(body.owner, body.role)
        who = current_identity.get()
        audit(who, "key.create", "ok", key_id=rec.id, key_owner=rec.owner, key_role=rec.role.value)
        return KeyCreated(id=rec.id, key=key, owner=rec.owner, role=rec.role)

    @router.get("", response_model=KeyList, responses=error_responses([503]))
    async def list_keys(request: Request) -> KeyList:
        """Every key, oldest first, without secrets (revoked ones too)."""
        return KeyList(keys=[view(k) for k in await _store(request).list()])

    @router.delete(
        "/{key_id}",
        status_code=status.HTTP_204_NO_CONTENT,
        response_class=Response,
        responses=error_responses({404: "no key with this id", 503: ""}),
    )
    async def revoke_key(key_id: KeyId, request: Request) -> Response:
        """Revoke a key: it stops working at once here, within seconds on other processes."""
        rec = await _store(request).revoke(key_id) if valid_id(key_id) else None
        audit(current_identity.get(), "key.revoke", "ok" if rec else "not found", key_id=key_id)
        if rec is None:
            raise HTTPException(404, "no key with this id")
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    return router
