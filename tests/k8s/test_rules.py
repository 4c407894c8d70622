"""The Prometheus rules: promtool checks and unit tests, the PrometheusRule copy, naming, the SLO
windows, and the alerts' labels, annotations and runbooks."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import yaml

from tests.k8s.conftest import (
    MONITORING,
    PROMETHEUSRULE_FILE,
    REPO,
    RULES_FILE,
    RULES_TEST_FILE,
    RUNBOOKS_FILE,
    all_rules,
    needs_promtool,
    promtool,
)

WINDOWS = ("5m", "30m", "1h", "6h")
RUNBOOK_PREFIX = "https://github.com/fl5g/fl5g/blob/main/k8s/components/monitoring/runbooks.md#"


@needs_promtool
def test_promtool_check_rules():
    proc = promtool("check", "rules", str(RULES_FILE))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


@needs_promtool
def test_promtool_check_rules_rejects_bad_promql(tmp_path):
    """The check above can fail: the same file with one broken expression does not pass."""
    good = "sum by (namespace, job) (rate("
    text = RULES_FILE.read_text().replace(good, "sum by (namespace, job (rate(", 1)
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    assert promtool("check", "rules", str(bad)).returncode != 0


@needs_promtool
def test_promtool_unit_tests():
    proc = promtool("test", "rules", RULES_TEST_FILE.name, cwd=RULES_TEST_FILE.parent)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


@needs_promtool
def test_promtool_unit_tests_fail_on_a_weaker_alert(tmp_path):
    """The unit tests can fail: with the fast-burn threshold raised to 20x they do."""
    threshold = "flaf:deadline_miss:burnrate1h > 14.4"
    rules = RULES_FILE.read_text().replace(threshold, "flaf:deadline_miss:burnrate1h > 20")
    assert rules != RULES_FILE.read_text()
    (tmp_path / RULES_FILE.name).write_text(rules)
    (tmp_path / RULES_TEST_FILE.name).write_text(RULES_TEST_FILE.read_text())
    proc = promtool("test", "rules", RULES_TEST_FILE.name, cwd=tmp_path)
    assert proc.returncode != 0
    assert "FlDeadlineBudgetFastBurn" in proc.stdout + proc.stderr


def test_prometheusrule_carries_the_rules_file(rules):
    obj = yaml.safe_load(PROMETHEUSRULE_FILE.read_text())
    assert obj["apiVersion"] == "monitoring.coreos.com/v1"
    assert obj["kind"] == "PrometheusRule"
    assert obj["spec"]["groups"] == rules["groups"], (
        "prometheusrule.yaml is stale: run python k8s/components/monitoring/sync_prometheusrule.py"
    )


def test_prometheusrule_is_what_the_sync_script_writes():
    proc = subprocess.run(
        [sys.executable, str(MONITORING / "sync_prometheusrule.py"), "--check"],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )
    assert proc.returncode == 0, "run python k8s/components/monitoring/sync_prometheusrule.py"


def test_recording_rule_names(rules):
    names = [r["record"] for r in all_rules(rules) if "record" in r]
    assert len(names) == len(set(names)), "a recording rule is defined twice"
    for name in names:
        # level:metric:operations (prometheus.io "Recording rules")
        assert re.fullmatch(r"[a-z]+:[a-z0-9_]+:[a-z0-9_]+", name), name
    required = {f"flaf:deadline_compliance:ratio_rate{w}" for w in WINDOWS}
    required |= {f"flaf:deadline_miss:ratio_rate{w}" for w in WINDOWS}
    required |= {"flaf:round_duration_seconds:p95_rate5m", "flaf:nef_request_duration_seconds:p95_rate5m",
                 "flaf:http_requests_errors:ratio_rate5m", "nef:http_requests_errors:ratio_rate5m"}
    assert required <= set(names), required - set(names)


@pytest.mark.parametrize("window", WINDOWS)
def test_each_window_is_computed_from_raw_rates(rules, window):
    """Compliance over a window is on_time / all, both rate()d over that same window: no ratio of
    a shorter window is averaged or reused."""
    by_name = {r["record"]: r["expr"] for r in all_rules(rules) if "record" in r}
    all_expr = by_name[f"flaf:ue_updates:rate{window}"]
    on_time_expr = by_name[f"flaf:ue_updates_on_time:rate{window}"]
    assert f"rate(flaf_ue_updates_total[{window}])" in all_expr
    assert "outcome" not in all_expr  # every outcome counts in the denominator
    assert f'rate(flaf_ue_updates_total{{outcome="on_time"}}[{window}])' in on_time_expr
    for expr in (all_expr, on_time_expr):
        assert set(re.findall(r"\[(\w+)\]", expr)) == {window}, expr
    ratio = by_name[f"flaf:deadline_compliance:ratio_rate{window}"]
    assert ratio.split() == [f"flaf:ue_updates_on_time:rate{window}", "/", f"flaf:ue_updates:rate{window}"]
    for name in re.findall(r"[a-z]+:[a-z0-9_]+:[a-z0-9_]+", by_name[f"flaf:deadline_miss:burnrate{window}"]):
        assert name.endswith(window), name
    for expr in by_name.values():
        assert "avg_over_time" not in expr


def test_burn_rate_alerts_use_long_and_short_windows(rules):
    alerts = {r["alert"]: r for r in all_rules(rules) if "alert" in r}
    fast, slow = alerts["FlDeadlineBudgetFastBurn"], alerts["FlDeadlineBudgetSlowBurn"]
    assert "flaf:deadline_miss:burnrate1h > 14.4" in fast["expr"]
    assert "flaf:deadline_miss:burnrate5m > 14.4" in fast["expr"]
    assert fast["labels"]["severity"] == "page"
    assert "flaf:deadline_miss:burnrate6h > 6" in slow["expr"]
    assert "flaf:deadline_miss:burnrate30m > 6" in slow["expr"]
    assert slow["labels"]["severity"] == "ticket"
    burn = {
        r["record"]: r["expr"]
        for r in all_rules(rules)
        if r.get("record", "").startswith("flaf:deadline_miss:burn")
    }
    assert all(e.endswith("/ (1 - 0.99)") for e in burn.values()), burn  # the 99 % objective


def test_absent_target_alerts(rules):
    exprs = {r["alert"]: r["expr"] for r in all_rules(rules) if "alert" in r}
    for job in ("af-server", "nef-mock", "ue-agent"):
        assert f'absent(up{{job="{job}"}} == 1)' in exprs.values(), job
    assert "flaf_nef_degraded" in exprs["FlNefDegraded"]
    assert "flaf_last_round_end_timestamp_seconds" in exprs["FlStalled"]


def test_every_alert_is_annotated(rules):
    runbooks = RUNBOOKS_FILE.read_text()
    anchors = {h.strip().lower() for h in re.findall(r"^## (.+)$", runbooks, flags=re.M)}
    problems = []
    for rule in all_rules(rules):
        if "alert" not in rule:
            continue
        name = rule["alert"]
        if rule.get("labels", {}).get("severity") not in ("page", "ticket"):
            problems.append(f"{name}: severity label is not page or ticket")
        ann = rule.get("annotations", {})
        for field in ("summary", "description", "runbook_url"):
            if not str(ann.get(field, "")).strip():
                problems.append(f"{name}: no {field} annotation")
        url = ann.get("runbook_url", "")
        if not url.startswith(RUNBOOK_PREFIX) or url.removeprefix(RUNBOOK_PREFIX) != name.lower():
            problems.append(f"{name}: runbook_url {url!r} is not {RUNBOOK_PREFIX}{name.lower()}")
        if name.lower() not in anchors:
            problems.append(f"{name}: runbooks.md has no '## {name}' section")
        if not re.fullmatch(r"Fl[A-Z][A-Za-z]+", name):
            problems.append(f"{name}: alert names are CamelCase with the Fl prefix")
    assert not problems, "\n".join(problems)


def test_unit_tests_cover_every_alert(rules, rules_tests):
    """Each alert fires in some unit test, and the healthy stream checks that none fires."""
    alerts = {r["alert"] for r in all_rules(rules) if "alert" in r}
    fired, quiet_in_healthy = set(), set()
    for case in rules_tests["tests"]:
        for check in case.get("alert_rule_test", []):
            if check.get("exp_alerts"):
                fired.add(check["alertname"])
            elif case["name"] == "healthy stream fires nothing":
                quiet_in_healthy.add(check["alertname"])
    assert alerts - fired == set(), "alerts no unit test fires"
    assert alerts - quiet_in_healthy == set(), "alerts the healthy-stream test does not check"
    assert fired <= alerts and quiet_in_healthy <= alerts, "tests name an alert that does not exist"
