"""The official 3GPP Rel-18 OpenAPI documents (../shared/3gpp) as a JSON Schema oracle.

Schemas are loaded lazily by file name, so ``$ref: 'TS29571_CommonData.yaml#/...'`` resolves across
files through a ``referencing`` registry; OpenAPI 3.0 ``nullable`` is rewritten to JSON Schema.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "3gpp"


def require_specs() -> Path:
    if not SPEC_DIR.is_dir():
        pytest.skip(f"the 3GPP OpenAPI documents are not at {SPEC_DIR} (../shared/3gpp from the repo root)")
    return SPEC_DIR


def _nullable(node: Any) -> Any:
    if isinstance(node, list):
        return [_nullable(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: _nullable(v) for k, v in node.items()}
    if out.pop("nullable", False):
        if isinstance(out.get("type"), str) and "$ref" not in out:
            out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


@cache
def _document(name: str) -> dict[str, Any]:
    text = (require_specs() / name).read_text(encoding="utf-8")
    doc: dict[str, Any] = _nullable(yaml.safe_load(text))
    return doc


def _retrieve(uri: str) -> Resource[Any]:
    return Resource.from_contents(_document(uri), default_specification=DRAFT202012)


@cache
def _registry() -> Registry[Any]:
    return Registry(retrieve=_retrieve)  # type: ignore[call-arg]


def errors(file: str, schema: str, instance: Any) -> list[str]:
    """Every way ``instance`` breaks ``file#/components/schemas/<schema>``."""
    require_specs()
    validator = jsonschema.Draft202012Validator(
        {"$ref": f"{file}#/components/schemas/{schema}"},
        registry=_registry(),
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )
    found = validator.iter_errors(instance)
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in found]


def check(file: str, schema: str, instance: Any) -> None:
    """Assert that ``instance`` is a valid ``schema`` of the official ``file``."""
    problems = errors(file, schema, instance)
    assert not problems, f"{schema} ({file}) rejects the body:\n" + "\n".join(problems[:10])


MONITORING = "TS29122_MonitoringEvent.yaml"
QOS = "TS29122_AsSessionWithQoS.yaml"
ANALYTICS = "TS29522_AnalyticsExposure.yaml"
MUSA = "TS29522_MemberUESelectionAssistance.yaml"
COMMON = "TS29122_CommonData.yaml"
CAPIF = "TS29222_CAPIF_Security_API.yaml"
