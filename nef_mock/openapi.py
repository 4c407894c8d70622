"""Writes the NEF mock's published API document: ``python -m nef_mock.openapi [path]``.

The document is generated from the app (dev settings, default scenario) so that it cannot drift from
the code; ``tests/nef_mock/test_openapi.py`` fails when the committed ``openapi/nef.yaml`` differs.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "openapi" / "nef.yaml"


def tidy(doc: dict[str, Any]) -> dict[str, Any]:
    """Say what the app really answers: errors are ``application/problem+json`` ProblemDetails (FastAPI
    files a response model under ``application/json``), and bad input is a 400, never FastAPI's 422."""
    for item in doc.get("paths", {}).values():
        for op in item.values():
            responses = op.get("responses", {})
            responses.pop("422", None)
            for code, resp in responses.items():
                content = resp.get("content", {})
                if (
                    code[0] in "45"
                    and "application/problem+json" in content
                    and "application/json" in content
                ):
                    content["application/problem+json"] = content.pop("application/json")
    schemas = doc.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    return doc


def build() -> dict[str, Any]:
    from nef_mock.app import create_app
    from nef_mock.settings import NefSettings

    return create_app(NefSettings(dev_mode=True)).openapi()


def render(doc: dict[str, Any]) -> str:
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=110)


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else DEFAULT_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(build()), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
