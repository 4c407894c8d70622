"""Publishing an app's OpenAPI document as it really behaves (shared by the AF and the NEF mock)."""

from __future__ import annotations

from typing import Any

import yaml


def tidy(doc: dict[str, Any]) -> dict[str, Any]:
    """Say what the app really answers: errors are ``application/problem+json`` ProblemDetails (FastAPI
    files a response model under ``application/json``), and bad input is a 400, never FastAPI's 422."""
    for item in doc.get("paths", {}).values():
        for op in item.values():
            responses = op.get("responses", {})
            responses.pop("422", None)
            for code, resp in responses.items():
                content = resp.get("content", {})
                if code[0] in "45" and "application/problem+json" in content and "application/json" in content:
                    content["application/problem+json"] = content.pop("application/json")
    schemas = doc.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    return doc


def render(doc: dict[str, Any]) -> str:
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=110)
