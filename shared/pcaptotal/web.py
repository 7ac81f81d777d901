"""Small FastAPI helpers the HTTP services share: the context dependency, the one error model
(RFC 9457 problem details) with its exception handlers, and OpenAPI response declarations."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from pcaptotal.context import Context
from pcaptotal.resilience import DependencyUnavailable

log = structlog.get_logger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
INPUT_PREFIX = 80  # characters of a bad input an error message may quote
RETRY_AFTER_S = 5  # what a 503 says when its raiser did not (the OpenAPI declares it on all)
# A dependency that outlasted the request's retry budget is likely down for a while longer.
UNAVAILABLE_RETRY_AFTER_S = 30
Responses = dict[int | str, dict[str, Any]]


async def get_context(request: Request) -> Context:
    """The adapters the composition root put on the app at startup (``app.state.ctx``).

    A coroutine although it does not wait: FastAPI runs a plain function dependency on its
    thread pool, a thread hop on every request (~13 % of a capture GET's time)."""
    ctx: Context = request.app.state.ctx
    return ctx


def quote_input(value: object, limit: int = INPUT_PREFIX) -> str:
    """A bad input as an error message may show it: quoted, at most ``limit`` characters, and
    saying how long it was when cut (a message must not echo megabytes back, nor hide a cut)."""
    text = value if isinstance(value, str) else str(value)
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text)} characters)"


# --- the error model -----------------------------------------------------------------------


class Problem(BaseModel):
    """An RFC 9457 problem details object; every error the API answers is one."""

    # Extension members are allowed by RFC 9457 (e.g. the field errors of a 422).
    model_config = ConfigDict(extra="allow")

    type: str = Field(
        description="a stable URI naming the kind of problem (urn:pcaptotal:problem:<kind>; "
        "the README lists the kinds): clients branch on it, not on detail"
    )
    title: str = Field(description="the HTTP status phrase")
    status: int = Field(description="the HTTP status code")
    detail: str = Field(description="what went wrong with this request, for a person")


class FieldError(BaseModel):
    loc: list[str | int] = Field(description='where: e.g. ["query", "limit"]')
    msg: str
    type: str


class ValidationProblem(Problem):
    """A 422: a parameter is missing or has the wrong type or range."""

    errors: list[FieldError]


PROBLEM_TYPE_PREFIX = "urn:pcaptotal:problem:"
# The kind a status means when the raiser names none; a raiser names a finer one (a quota vs
# a rate limit are both 429) with ``ProblemError``.
_KINDS = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "too-large",
    415: "unsupported-media-type",
    422: "invalid-parameters",
    429: "too-many-requests",
    500: "internal-error",
    502: "bad-gateway",
    503: "unavailable",
    504: "gateway-timeout",
}


def problem_type(status: int, kind: str | None = None) -> str:
    """The ``type`` URI of a problem: one per kind, stable across releases."""
    return PROBLEM_TYPE_PREFIX + (kind or _KINDS.get(status, f"http-{status}"))


class ProblemError(HTTPException):
    """An HTTP error of a named kind (``urn:pcaptotal:problem:<kind>``)."""

    def __init__(
        self, status: int, detail: str, *, kind: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(status, detail, headers=dict(headers) if headers else None)
        self.kind = kind


def problem(
    status: int,
    detail: str,
    *,
    headers: Mapping[str, str] | None = None,
    kind: str | None = None,
    **extensions: Any,
) -> JSONResponse:
    """An error answer: problem+json with ``type``, ``title``, ``status``, ``detail``.

    A 503 always carries ``Retry-After`` (``RETRY_AFTER_S`` unless ``headers`` give one)."""
    body = {
        "type": problem_type(status, kind),
        "title": _title(status),
        "status": status,
        "detail": detail,
        **extensions,
    }
    sent = dict(headers or {})
    if status == 503 and not any(k.lower() == "retry-after" for k in sent):
        sent["Retry-After"] = str(RETRY_AFTER_S)
    return JSONResponse(body, status, headers=sent, media_type=PROBLEM_MEDIA_TYPE)


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code in (204, 304):  # no body allowed
        return Response(status_code=exc.status_code, headers=exc.headers)
    detail = exc.detail if isinstance(exc.detail, str) else _title(exc.status_code)
    return problem(exc.status_code, detail, headers=exc.headers, kind=getattr(exc, "kind", None))


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    # Only loc/msg/type: pydantic's ``input`` and ``ctx`` would echo the bad input back whole.
    errors = [
        FieldError(loc=list(e.get("loc", ())), msg=str(e.get("msg", "")), type=str(e.get("type")))
        for e in exc.errors()
    ]
    shown = "; ".join(f"{'.'.join(map(str, e.loc))}: {e.msg}" for e in errors[:5])
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    detail = f"invalid request: {shown}{more}"
    return problem(422, detail, errors=[e.model_dump() for e in errors])


async def _unavailable(request: Request, exc: Exception) -> Response:
    # A dependency stayed down for the request's whole retry budget: come back later.
    assert isinstance(exc, DependencyUnavailable)
    return problem(503, str(exc), headers={"Retry-After": str(UNAVAILABLE_RETRY_AFTER_S)})


async def _unexpected(request: Request, exc: Exception) -> Response:
    # The traceback goes to the log, never to the client.
    log.error("unhandled error", path=request.url.path, exc_info=exc)
    return problem(500, "internal error; the server log has the details")


def install_problem_details(app: FastAPI) -> None:
    """Answer every error as problem+json and make the OpenAPI document say so.

    Call once on each app that serves the API (the runner and each service's own app).
    """
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(DependencyUnavailable, _unavailable)
    app.add_exception_handler(Exception, _unexpected)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _with_problems(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


# --- OpenAPI declarations -------------------------------------------------------------------

_DESCRIPTIONS = {
    400: "the request is malformed (bad id, query or body)",
    404: "no such resource",
    409: "the resource is not in a state that allows this",
    413: "the body is over the size limit",
    415: "the body is not of a supported type",
    422: "a parameter is missing or invalid",
    503: "a dependency (index, blob store or message bus) is unavailable; retry after "
    "the Retry-After seconds",
}
_MODELS: dict[str, type[BaseModel]] = {"Problem": Problem, "ValidationProblem": ValidationProblem}
_RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds to wait before retrying",
        "required": True,
        "schema": {"type": "integer", "minimum": 0},
    }
}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    _MODELS.setdefault(model.__name__, model)
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def component_ref(model: type[BaseModel]) -> dict[str, str]:
    """A ``$ref`` to ``model`` in the components (added by ``install_problem_details``), for a
    body FastAPI does not see as a model (a ``media_response`` that is not application/json)."""
    return _ref(model)


def error_responses(
    codes: Mapping[int, str] | Iterable[int],
    *,
    models: Mapping[int, type[Problem]] | None = None,
    retry_after: Iterable[int] = (503,),
) -> Responses:
    """The ``responses=`` entries of a route's error statuses, all problem+json.

    ``codes``: statuses, or statuses with a description of when this route answers them.
    ``models``: a ``Problem`` subclass for statuses whose body carries extension members.
    ``retry_after``: statuses answered with a ``Retry-After`` header (every 503 by default).
    A 422 also admits the parameter-validation problem every route with parameters can give.
    """
    described = dict(codes) if isinstance(codes, Mapping) else {c: "" for c in codes}
    models = models or {}
    retry = set(retry_after)
    out: Responses = {}
    for code, text in described.items():
        schema: dict[str, Any] = _ref(models.get(code, Problem))
        if code == 422 and models.get(code) not in (None, ValidationProblem):
            schema = {"anyOf": [schema, _ref(ValidationProblem)]}
        elif code == 422:
            schema = _ref(ValidationProblem)
        entry: dict[str, Any] = {
            "description": text or _DESCRIPTIONS.get(code, _title(code)),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": schema}},
        }
        if code in retry:
            entry["headers"] = _RETRY_AFTER
        out[code] = entry
    return out


def media_response(
    media_type: str,
    description: str,
    schema: Mapping[str, Any] | None = None,
    headers: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A ``responses=`` entry for a body that is not JSON (text, a file, a STIX bundle)."""
    entry: dict[str, Any] = {
        "description": description,
        "content": {media_type: {"schema": dict(schema or {"type": "string"})}},
    }
    if headers:
        entry["headers"] = dict(headers)
    return entry


def binary_upload_body(description: str, *media_types: str) -> dict[str, Any]:
    """OpenAPI for a body read as a stream (raw bytes or a multipart ``file`` field), since
    such a handler cannot declare the body as a parameter."""
    binary = {"schema": {"type": "string", "format": "binary"}}
    content: dict[str, Any] = {t: binary for t in ("application/octet-stream", *media_types)}
    content["multipart/form-data"] = {
        "schema": {
            "type": "object",
            "required": ["file"],
            "properties": {"file": {"type": "string", "format": "binary"}},
        }
    }
    return {"requestBody": {"required": True, "description": description, "content": content}}


def _with_problems(doc: dict[str, Any]) -> dict[str, Any]:
    """Put the problem models in the components and replace FastAPI's default 422
    (``HTTPValidationError``, which the handler above never sends) by ``ValidationProblem``."""
    default_422 = "#/components/schemas/HTTPValidationError"
    for ops in doc.get("paths", {}).values():
        for op in ops.values():
            responses = op.get("responses", {})
            content = responses.get("422", {}).get("content", {})
            ref = content.get("application/json", {}).get("schema", {}).get("$ref")
            if ref == default_422 or (_takes_input(op) and "422" not in responses):
                responses["422"] = error_responses([422])[422]
    schemas: dict[str, Any] = doc.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):  # FastAPI's, now unreferenced
        if f'"#/components/schemas/{name}"' not in json.dumps(doc["paths"]):
            schemas.pop(name, None)
    for name, model in _MODELS.items():
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[name] = schema
    return doc


def _takes_input(op: Mapping[str, Any]) -> bool:
    return bool(op.get("parameters")) or "requestBody" in op
