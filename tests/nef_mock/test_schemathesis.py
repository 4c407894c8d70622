"""Property-based conformance: schemathesis drives every operation of ``openapi/nef.yaml`` against the
app on a real loopback server (auth disabled) and checks for 5xx and answers that break the document."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.config import SchemathesisConfig

from nef_mock.app import create_app
from tests.nef_mock.conftest import dev_settings
from tests.servers import serve

PUBLISHED = Path(__file__).resolve().parents[2] / "openapi" / "nef.yaml"
# The coverage phase alone sends over a thousand requests per operation; the fuzzing phase with a bounded
# number of examples (positive and negative) keeps the whole run well under a minute.
CONFIG = SchemathesisConfig.from_dict(
    {"phases": {"coverage": {"enabled": False}}, "generation": {"max-examples": 15, "mode": "all"}}
)
SCHEMA = schemathesis.openapi.from_path(PUBLISHED, config=CONFIG)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def nef_url() -> Iterator[str]:
    # Notifications to whatever URI the generator invents stay in-process.
    sink = httpx.MockTransport(lambda _: httpx.Response(204))
    app = create_app(dev_settings(notify_retries=0), notify_transport=sink)
    with serve(app) as url:
        yield url


@SCHEMA.parametrize()
@settings(max_examples=15, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_every_operation_conforms(case: schemathesis.Case[Any], nef_url: str) -> None:
    case.call_and_validate(base_url=nef_url, checks=CHECKS, timeout=30)
