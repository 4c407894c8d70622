"""A real Prometheus scrapes a real run and evaluates the committed recording rules: the SLO ratio it
records equals the one computed from the AF's own round records.

Why the comparison can be exact. ``rate(c[5m])`` is ``(last - first)`` of the samples in the window
times an extrapolation factor. The factor depends only on the sample timestamps and, towards the
start of the window, on the first value (a counter is never extrapolated below zero). All outcome
series of ``flaf_ue_updates_total`` come from the same target, so they share every timestamp, and
the fixture waits until Prometheus has scraped them at 0 before the job starts, so no series is
extrapolated backwards at all. Within the 5 m window (the whole run) every series is scaled by the
same factor, which cancels in on_time / all: the recorded ratio is the exact ratio of increments.
"""

from __future__ import annotations

import time

import pytest

from tests.observability.conftest import OUTCOMES, SLOW_UE, ObservedRun, outcome_counts, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

RULE = "flaf:deadline_compliance:ratio_rate5m"


def test_recorded_deadline_compliance_equals_the_round_records(observed_run: ObservedRun) -> None:
    prom = observed_run.prometheus
    if prom is None:
        pytest.skip("the prometheus binary is not on PATH: install Debian's `prometheus` (make system-deps)")
    assert observed_run.job["status"] == "completed", observed_run.job
    assert observed_run.zero_scrape == dict.fromkeys(OUTCOMES, 0.0)  # the precondition of exactness

    expected = outcome_counts(observed_run.rounds)
    total = sum(expected.values())
    assert total == sum(len(rd["selected"]) for rd in observed_run.rounds) == 6
    # the throttled UE missed both rounds, so the ratio is not a trivial 1
    slow = observed_run.stack.gpsis()[SLOW_UE]
    slow_outcomes = [ue["outcome"] for rd in observed_run.rounds for ue in rd["ues"] if ue["gpsi"] == slow]
    assert len(slow_outcomes) == 2 and "on_time" not in slow_outcomes, slow_outcomes

    # 1. Prometheus has scraped the AF's final counters (they agree with the records outcome by outcome)
    def final_counters() -> dict[str, float] | None:
        rows = prom.query('flaf_ue_updates_total{job="af-server"}')
        values = {row["metric"]["outcome"]: float(row["value"][1]) for row in rows}
        return values if sum(values.values()) >= total else None

    counters = wait_for("Prometheus to scrape the AF's final outcome counters", final_counters, 30)
    seen_at = time.time()  # that sample is stored: every rule evaluation from now on reads it
    assert counters == {k: float(v) for k, v in expected.items()}

    # 2. a rule evaluation after that
    def evaluated_after() -> float | None:
        ts = prom.scalar(f"timestamp({RULE})")
        return ts if ts is not None and ts >= seen_at else None

    wait_for(f"{RULE} to be evaluated after the last round", evaluated_after, 30)
    rows = prom.query(RULE)
    assert [row["metric"] for row in rows] == [{"__name__": RULE, "job": "af-server"}]
    recorded = float(rows[0]["value"][1])
    assert recorded == pytest.approx(expected["on_time"] / total, rel=0, abs=1e-9), (expected, recorded)

    miss = prom.scalar("flaf:deadline_miss:ratio_rate5m")
    assert miss == pytest.approx(1 - expected["on_time"] / total, abs=1e-9)

    # every committed rule loaded and evaluates without error
    rules = [rule for group in prom.get("/api/v1/rules")["data"]["groups"] for rule in group["rules"]]
    assert rules and all(r["health"] == "ok" for r in rules), [r for r in rules if r["health"] != "ok"]
