"""The committed openapi/af.yaml is what the app serves."""

from __future__ import annotations

import yaml
from openapi_spec_validator import validate

from af_server.openapi import DEFAULT_PATH, build
from flcore.openapidoc import render


def test_committed_document_matches_the_app():
    committed = DEFAULT_PATH.read_text()
    assert committed == render(build()), "openapi/af.yaml drifted: run `python -m af_server.openapi`"


def test_document_is_valid_openapi_and_errors_are_problem_details():
    doc = yaml.safe_load(DEFAULT_PATH.read_text())
    validate(doc)
    for path, item in doc["paths"].items():
        for method, op in item.items():
            assert "422" not in op["responses"], (method, path)
            for code, resp in op["responses"].items():
                if code.startswith(("4", "5")):
                    assert "application/problem+json" in resp.get("content", {}), (method, path, code)
