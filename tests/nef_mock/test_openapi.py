"""The published ``openapi/nef.yaml``: generated from the app, valid, and not drifting from the code."""

from __future__ import annotations

from pathlib import Path

import yaml
from openapi_spec_validator import validate

from nef_mock import openapi

PUBLISHED = Path(__file__).resolve().parents[2] / "openapi" / "nef.yaml"


def test_published_document_matches_the_app() -> None:
    generated = openapi.render(openapi.build())
    assert PUBLISHED.read_text(encoding="utf-8") == generated, (
        "openapi/nef.yaml is stale: run `python -m nef_mock.openapi` and commit the result"
    )


def test_published_document_is_valid_openapi() -> None:
    doc = yaml.safe_load(PUBLISHED.read_text(encoding="utf-8"))
    validate(doc)
    paths = doc["paths"]
    for path in (
        "/3gpp-monitoring-event/v1/{scsAsId}/subscriptions/{subscriptionId}",
        "/3gpp-as-session-with-qos/v1/{scsAsId}/subscriptions/{subscriptionId}",
        "/3gpp-analyticsexposure/v1/{afId}/fetch",
        "/3gpp-analyticsexposure/v1/{afId}/subscriptions/{subscriptionId}",
        "/3gpp-musa/v1/{afId}/subscriptions/{subscriptionId}",
        "/capif-security/v1/securities/{securityId}/token",
    ):
        assert path in paths
    for item in paths.values():
        for op in item.values():
            assert "422" not in op["responses"]
    assert doc["components"]["securitySchemes"]["oAuth2ClientCredentials"]["type"] == "oauth2"
