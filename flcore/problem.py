"""3GPP ProblemDetails (TS 29.122 / TS 29.571) as the one error shape of every fl5g service."""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"


class InvalidParam(BaseModel):
    """One bad input: a JSON pointer (or header name) and why it was refused."""

    param: str
    reason: str | None = None


class ProblemDetails(BaseModel):
    """The error body of every 4xx/5xx answer."""

    model_config = ConfigDict(populate_by_name=True, extra="allow")

    type: str | None = None
    title: str | None = None
    status: int | None = None
    detail: str | None = None
    instance: str | None = None
    cause: str | None = None
    invalidParams: list[InvalidParam] | None = Field(default=None)  # noqa: N815 (3GPP name)
    supportedFeatures: str | None = None  # noqa: N815


class ProblemError(Exception):
    """Raise anywhere in a request to answer with a ProblemDetails body."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        cause: str | None = None,
        invalid: Sequence[tuple[str, str]] = (),
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.cause = cause
        self.invalid = list(invalid)
        self.headers = headers or {}
        self.extra = extra or {}

    def to_problem(self, instance: str | None = None) -> ProblemDetails:
        return problem(
            self.status, self.detail, cause=self.cause, invalid=self.invalid, instance=instance, **self.extra
        )


def problem(
    status: int,
    detail: str,
    *,
    cause: str | None = None,
    invalid: Sequence[tuple[str, str]] = (),
    instance: str | None = None,
    **extra: Any,
) -> ProblemDetails:
    title = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    return ProblemDetails(
        type=f"https://fl5g.example/problems/{(cause or title).lower().replace(' ', '-').replace('_', '-')}",
        title=title,
        status=status,
        detail=detail,
        instance=instance,
        cause=cause or _default_cause(status),
        invalidParams=[InvalidParam(param=p, reason=r) for p, r in invalid] or None,
        **extra,
    )


def _default_cause(status: int) -> str:
    return {
        400: "INVALID_MSG_FORMAT",
        401: "UNAUTHORIZED",
        403: "FORBIDDEN",
        404: "RESOURCE_NOT_FOUND",
        405: "METHOD_NOT_ALLOWED",
        406: "NOT_ACCEPTABLE",
        409: "CONFLICT",
        411: "LENGTH_REQUIRED",
        412: "PRECONDITION_FAILED",
        413: "PAYLOAD_TOO_LARGE",
        415: "UNSUPPORTED_MEDIA_TYPE",
        422: "UNPROCESSABLE_ENTITY",
        429: "TOO_MANY_REQUESTS",
        500: "SYSTEM_FAILURE",
        503: "SERVICE_UNAVAILABLE",
    }.get(status, "OTHER")


def problem_response(p: ProblemDetails, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        p.model_dump(exclude_none=True), status_code=p.status or 500, media_type=PROBLEM_JSON, headers=headers
    )


def _pointer(loc: Sequence[int | str]) -> str:
    parts = [str(x) for x in loc]
    if parts and parts[0] in {"body", "query", "path", "header", "cookie"}:
        where, rest = parts[0], parts[1:]
        if where == "body":
            return "/" + "/".join(rest) if rest else "/"
        return rest[0] if rest else where
    return "/" + "/".join(parts)


def install_problem_handlers(app: FastAPI) -> None:
    """Render every error of ``app`` as ProblemDetails: validation, HTTP, ours, and the unexpected."""

    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ProblemError)
        return problem_response(exc.to_problem(str(request.url.path)), exc.headers)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        invalid = [(_pointer(e.get("loc", ())), str(e.get("msg", "invalid"))) for e in exc.errors()]
        names = ", ".join(p for p, _ in invalid[:5])
        json_error = any(e.get("type") == "json_invalid" for e in exc.errors())
        detail = "request body is not valid JSON" if json_error else f"invalid request: {names}"
        return problem_response(
            problem(400, detail, cause="INVALID_MSG_FORMAT", invalid=invalid, instance=str(request.url.path))
        )

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        headers = dict(exc.headers) if exc.headers else None
        return problem_response(
            problem(exc.status_code, str(exc.detail), instance=str(request.url.path)), headers
        )

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        return problem_response(
            problem(500, f"internal error: {type(exc).__name__}", instance=str(request.url.path))
        )

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ProblemDetails, "content": {PROBLEM_JSON: {}}, "description": HTTPStatus(code).phrase}
    for code in (400, 401, 403, 404, 409, 413, 500, 503)
}
