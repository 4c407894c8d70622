"""Lint of the Grafana dashboard (Grafana's dashboard-linter rules, as tests: its binary cannot be
installed here), plus a PromQL parse of every query through promtool."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from tests.k8s.conftest import DASHBOARD_FILE, needs_promtool, promtool

DS = "${datasource}"
# Grafana unit ids this board may use (Grafana's value formats), plus custom "suffix:" units.
UNITS = {"percentunit", "s", "ms", "Bps", "bytes", "reqps", "cps", "ops", "short", "none"}
RAW_METRIC = re.compile(r"\b((?:flaf|nef|flue)_[a-z0-9_]+)\b")


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, including those inside collapsed rows; rows themselves are layout only."""
    out: list[dict[str, Any]] = []
    for p in dashboard["panels"]:
        out.extend(p.get("panels", []) if p["type"] == "row" else [p])
    return out


def exprs(dashboard: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    return [(p, t["expr"]) for p in panels(dashboard) for t in p.get("targets", [])]


def test_valid_json_with_stable_identity():
    dashboard = json.loads(DASHBOARD_FILE.read_text())
    assert dashboard["uid"] == "fl5g-overview"
    assert dashboard["id"] is None
    assert dashboard["schemaVersion"] >= 36
    assert dashboard["editable"] is False
    assert dashboard["title"]


def test_datasource_variable(dashboard):
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    ds = variables["datasource"]
    assert ds["type"] == "datasource"
    assert ds["query"] == "prometheus"
    for v in variables.values():
        if v["type"] == "query":
            assert v["datasource"]["uid"] == DS, v["name"]


def test_every_panel_is_linted(dashboard):
    problems = []
    ids = [p["id"] for p in dashboard["panels"]]
    if len(ids) != len(set(ids)):
        problems.append(f"duplicate panel ids: {sorted(i for i in ids if ids.count(i) > 1)}")
    for p in panels(dashboard):
        where = f"panel {p.get('id')} {p.get('title')!r}"
        if not p.get("title"):
            problems.append(f"{where}: no title")
        if not str(p.get("description", "")).strip():
            problems.append(f"{where}: no description")
        unit = p.get("fieldConfig", {}).get("defaults", {}).get("unit")
        if not unit or not (unit in UNITS or unit.startswith("suffix:")):
            problems.append(f"{where}: unit {unit!r}")
        if (p.get("datasource") or {}).get("uid") != DS:
            problems.append(f"{where}: panel datasource is not {DS}")
        targets = p.get("targets", [])
        if not targets:
            problems.append(f"{where}: no queries")
        if len({t["refId"] for t in targets}) != len(targets):
            problems.append(f"{where}: duplicate refIds")
        for t in targets:
            if (t.get("datasource") or {}).get("uid") != DS:
                problems.append(f"{where} {t['refId']}: query datasource is not {DS}")
    assert not problems, "\n".join(problems)


def test_layout_does_not_overlap(dashboard):
    cells: dict[tuple[int, int], str] = {}
    for p in dashboard["panels"]:
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24, p["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{p['title']!r} overlaps {cells[(x, y)]!r}"
                cells[(x, y)] = p["title"]


def test_queries_follow_the_conventions(dashboard: dict[str, Any]) -> None:
    problems = []
    for p, expr in exprs(dashboard):
        where = f"{p['title']!r}: {expr}"
        for window in re.findall(r"\b(?:rate|irate)\([^()]*\[([^\]]+)\]\)", expr):
            if window != "$__rate_interval":
                problems.append(f"{where}: rate() over {window}, not $__rate_interval")
        # every selector of a raw or recorded series is scoped to the chosen namespaces
        for m in re.finditer(r"\b((?:flaf|nef|flue)[_:][a-z0-9_:]+)(\{[^}]*\})?", expr):
            if 'namespace=~"$namespace"' not in (m.group(2) or ""):
                problems.append(f"{where}: {m.group(1)} without namespace=~\"$namespace\"")
    assert not problems, "\n".join(problems)


def test_required_content(dashboard):
    """The board shows what the issue asks for (by the series each panel draws)."""
    used = " ".join(e for _, e in exprs(dashboard))
    required = [
        "flaf:deadline_compliance:ratio_rate1h",   # SLO stat
        "flaf:deadline_miss:burnrate1h",           # burn rate
        "flaf_round_duration_seconds_bucket",      # round duration ...
        "flaf_round_deadline_seconds",             # ... against the deadline
        "flaf_round_selected_ues",
        "flaf_model_transfer_bytes_total",         # UL/DL bytes
        "flaf_aggregation_duration_seconds_bucket",
        "flaf_model_accuracy_ratio",
        "flaf_nef_request_duration_seconds_bucket",
        # RED per service
        "flaf_http_requests_total", "flaf_http_request_duration_seconds_bucket",
        "nef_http_requests_total", "nef_http_request_duration_seconds_bucket",
        "flue_http_requests_total",
    ]
    assert [r for r in required if r not in used] == []


@needs_promtool
def test_every_query_parses(dashboard, tmp_path):
    """promtool parses each query (Grafana's variables replaced by values) as a recording rule."""
    subst = {"$__rate_interval": "5m", "$namespace": ".*", "${datasource}": ""}
    rules = []
    for i, (_, expr) in enumerate(exprs(dashboard)):
        for k, v in subst.items():
            expr = expr.replace(k, v)
        assert "$" not in expr, f"unknown variable in {expr}"
        rules.append({"record": f"dashboard:query:{i}", "expr": expr})
    path = tmp_path / "dashboard-queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    proc = promtool("check", "rules", str(path))
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        ('sum(rate(flaf_http_requests_total{namespace=~"$namespace"}[5m]))', "$__rate_interval"),
        ("max(flaf_round_selected_ues)", "without namespace"),
    ],
)
def test_query_lint_catches_violations(dashboard, bad, expected):
    broken = json.loads(json.dumps(dashboard))
    broken["panels"][0]["targets"][0]["expr"] = bad
    with pytest.raises(AssertionError, match=re.escape(expected)):
        test_queries_follow_the_conventions(broken)
