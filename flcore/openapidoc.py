"""Publishing an app's OpenAPI document as it really behaves (shared by the AF and the NEF mock)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from fastapi import FastAPI


def tidy(doc: dict[str, Any]) -> dict[str, Any]:
    """Say what the app really answers: errors are ``application/problem+json`` ProblemDetails (FastAPI
    files a response model under ``application/json``), and bad input is a 400, never FastAPI's 422."""
    for item in doc.get("paths", {}).values():
        for op in item.values():
            responses = op.get("responses", {})
            responses.pop("422", None)
            for code, resp in responses.items():
                content = resp.get("content", {})
                problem = "application/problem+json" in content and "application/json" in content
                if code[0] in "45" and problem:
                    content["application/problem+json"] = content.pop("application/json")
    schemas = doc.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    return doc


def install_tidy_openapi(app: FastAPI) -> None:
    """Make ``app`` serve its generated OpenAPI document through ``tidy`` (built once, on first use)."""
    default_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = tidy(default_openapi())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def render(doc: dict[str, Any]) -> str:
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=110)
