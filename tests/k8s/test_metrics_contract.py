"""Every metric the rules and the dashboard use is part of the contract: listed in
docs/interfaces.md's Metrics section, or defined here as a recording rule. Catches renames and
typos before Prometheus silently returns nothing. (A later test scrapes the real services.)"""

from __future__ import annotations

import re
from typing import Any

from tests.k8s.conftest import INTERFACES_DOC, REPO, all_rules

PREFIXED = re.compile(r"(?<![A-Za-z0-9_:])((?:flaf|nef|flue)_[A-Za-z0-9_]*[A-Za-z0-9])")
RECORDED = re.compile(r"(?<![A-Za-z0-9_:])([a-z]+:[A-Za-z0-9_]+:[A-Za-z0-9_]+)")
HISTOGRAM_SUFFIXES = ("_bucket", "_count", "_sum")

# Exported by af_server/metrics.py and used here, but not yet in docs/interfaces.md. Each is
# named in the k8s change's report for the contract owner to add; the test checks that the AF
# really exports it, so nothing here is invented.
EXPORTED_NOT_YET_DOCUMENTED = {
    "flaf_jobs_running": "FlStalled: 'a job is running' (flaf_round_selected_ues keeps its last value)",
    "flaf_round_deadline_seconds": "dashboard: round duration against the deadline",
}


def documented_metrics() -> set[str]:
    text = INTERFACES_DOC.read_text()
    match = re.search(r"^## Metrics.*?(?=^## |\Z)", text, flags=re.M | re.S)
    assert match, "docs/interfaces.md has no '## Metrics' section"
    names = set()
    for code in re.findall(r"`([^`]+)`", match.group(0)):
        name = code.split("{", 1)[0].strip()
        if re.fullmatch(r"[a-zA-Z_:][a-zA-Z0-9_:]*", name):
            names.add(name)
    return names


def used_names(exprs: list[str]) -> tuple[set[str], set[str]]:
    """(raw metric names, recording-rule names) in PromQL expressions, string literals removed."""
    raw, recorded = set(), set()
    for expr in exprs:
        code = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
        raw |= set(PREFIXED.findall(code))
        recorded |= set(RECORDED.findall(code))
    return raw, recorded


def base_name(name: str, known: set[str]) -> str:
    for suffix in HISTOGRAM_SUFFIXES:
        if name.endswith(suffix) and name.removesuffix(suffix) in known:
            return name.removesuffix(suffix)
    return name


def all_exprs(rules: dict[str, Any], dashboard: dict[str, Any]) -> list[str]:
    exprs = [str(r["expr"]) for r in all_rules(rules)]
    for panel in dashboard["panels"]:
        exprs += [t["expr"] for t in panel.get("targets", [])]
    for var in dashboard["templating"]["list"]:
        query = var.get("query")
        exprs.append(query["query"] if isinstance(query, dict) else str(query or ""))
    return exprs


def test_extraction_finds_names():
    raw, recorded = used_names([
        'sum(rate(flaf_ue_updates_total{outcome="on_time", job="nef-mock"}[5m])) / flaf:ue_updates:rate5m',
        'histogram_quantile(0.95, sum by (le) (rate(nef_http_request_duration_seconds_bucket[5m])))',
        'label_values(up{job="af-server"}, namespace)',
    ])
    assert raw == {"flaf_ue_updates_total", "nef_http_request_duration_seconds_bucket"}
    assert recorded == {"flaf:ue_updates:rate5m"}


def test_docs_list_the_metrics():
    names = documented_metrics()
    assert "flaf_ue_updates_total" in names
    assert "flaf:deadline_compliance:ratio_rate5m" in names
    assert len([n for n in names if n.startswith(("flaf_", "nef_", "flue_"))]) >= 20


def test_every_used_metric_is_documented_or_recorded(rules, dashboard):
    documented = documented_metrics()
    recorded_here = {r["record"] for r in all_rules(rules) if "record" in r}
    allowed = documented | set(EXPORTED_NOT_YET_DOCUMENTED)
    raw, recorded = used_names(all_exprs(rules, dashboard))
    unknown_raw = sorted(n for n in raw if base_name(n, allowed) not in allowed)
    unknown_recorded = sorted(recorded - recorded_here - documented)
    assert unknown_raw == [], "metrics not in docs/interfaces.md"
    assert unknown_recorded == [], "recording rules used but not defined in fl5g-rules.yaml"
    # the SLO rule the docs promise exists
    assert {n for n in documented if ":" in n} <= recorded_here


def test_undocumented_exceptions_are_really_exported():
    source = (REPO / "af_server" / "metrics.py").read_text()
    for name in EXPORTED_NOT_YET_DOCUMENTED:
        assert f'"{name}"' in source, f"{name} is not exported by af_server/metrics.py"
