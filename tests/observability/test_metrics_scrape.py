"""The real services' `/metrics` after a real run: lint-clean, and everything the dashboard and the
rules use is really exported (the static contract test in tests/k8s checks names against the docs;
this one checks them against live scrapes of the AF, the NEF mock and each UE process)."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
import yaml
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from tests.k8s.conftest import DASHBOARD_FILE, RULES_FILE, all_rules
from tests.k8s.test_metrics_contract import all_exprs, used_names
from tests.observability.conftest import OUTCOMES, PROMTOOL, ObservedRun, outcome_counts

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

TR_BUDGETS_S = (0.052, 0.055, 0.065, 0.095, 0.162)  # TR 22.874 Table 7.1-1 per-iteration budgets
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
UE_ID = re.compile(r"msisdn-|extid-|imsi-")
UE_ID_LABELS = {"gpsi", "supi", "imsi", "msisdn", "ue", "ue_id", "ueid"}


def families(run: ObservedRun) -> dict[str, list[Metric]]:
    return {name: list(text_string_to_metric_families(text)) for name, text in run.scrapes.items()}


def test_every_scrape_passes_promtool(observed_run: ObservedRun) -> None:
    if PROMTOOL is None:
        pytest.skip("promtool not on PATH: install Debian's `prometheus` package (make system-deps)")
    assert set(observed_run.scrapes) == {"af", "nef", "ue0", "ue1"}
    for name, text in observed_run.scrapes.items():
        proc = subprocess.run(
            [PROMTOOL, "check", "metrics"],
            input=text,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert proc.returncode == 0 and not (proc.stdout + proc.stderr).strip(), (
            f"promtool check metrics on the {name} scrape:\n{proc.stdout}{proc.stderr}"
        )


def test_every_metric_of_the_dashboard_and_rules_is_scraped(observed_run: ObservedRun) -> None:
    rules = yaml.safe_load(RULES_FILE.read_text())
    dashboard = json.loads(DASHBOARD_FILE.read_text())
    raw, recorded = used_names(all_exprs(rules, dashboard))
    assert len(raw) >= 15, raw  # the extraction works (a regex that finds nothing passes everything)

    by_family: dict[str, Metric] = {}
    samples: set[str] = set()
    for fams in families(observed_run).values():
        for fam in fams:
            by_family.setdefault(fam.name, fam)
            samples |= {s.name for s in fam.samples}

    missing = sorted(n for n in raw if n not in samples)
    assert missing == [], f"used by the dashboard or the rules but in no scrape: {missing}"
    for name in raw:
        base = next((name.removesuffix(s) for s in HISTOGRAM_SUFFIXES if name.endswith(s)), name)
        found = by_family.get(base) or by_family.get(name.removesuffix("_total"))
        assert found is not None, name
        if found.type == "histogram":
            for suffix in HISTOGRAM_SUFFIXES:
                assert f"{found.name}{suffix}" in samples, f"{found.name} is a histogram without {suffix}"
        elif found.type == "counter":
            assert name == f"{found.name}_total", (
                f"counter {found.name} used as {name}, not {found.name}_total"
            )

    # recording-rule names are not scraped: they must be defined by a rule in the rules file
    defined = {r["record"] for r in all_rules(rules) if "record" in r}
    assert sorted(recorded - defined) == []
    assert "flaf:deadline_compliance:ratio_rate5m" in defined


def test_update_latency_has_the_tr_budgets_as_bucket_edges(observed_run: ObservedRun) -> None:
    af = {f.name: f for f in families(observed_run)["af"]}
    hist = af["flaf_ue_update_latency_seconds"]
    assert hist.type == "histogram"
    edges = {float(s.labels["le"]) for s in hist.samples if s.name.endswith("_bucket")}
    assert set(TR_BUDGETS_S) <= edges, sorted(edges)
    # the run really observed updates (the two fast UEs reported in both rounds)
    count = next(s.value for s in hist.samples if s.name.endswith("_count"))
    counts = outcome_counts(observed_run.rounds)
    assert count == counts["on_time"] + counts["late"]


def test_no_metric_carries_a_ue_id(observed_run: ObservedRun) -> None:
    for scrape, fams in families(observed_run).items():
        for fam in fams:
            for s in fam.samples:
                assert not (set(s.labels) & UE_ID_LABELS), f"{scrape}: {s.name} has a UE id label {s.labels}"
                bad = {k: v for k, v in s.labels.items() if UE_ID.search(v)}
                assert not bad, f"{scrape}: {s.name} carries a UE id in {bad}"


def test_outcome_counters_match_the_round_records(observed_run: ObservedRun) -> None:
    """The SLO's numerator and denominator come from flaf_ue_updates_total: it must agree with the
    AF's own per-round records, one outcome per selected UE per round."""
    af = {f.name: f for f in families(observed_run)["af"]}
    scraped = {
        s.labels["outcome"]: s.value for s in af["flaf_ue_updates"].samples if s.name.endswith("_total")
    }
    assert set(scraped) == set(OUTCOMES)
    expected = outcome_counts(observed_run.rounds)
    assert scraped == {k: float(v) for k, v in expected.items()}
    assert sum(expected.values()) == sum(len(rd["selected"]) for rd in observed_run.rounds)
