"""Selection policies on hand-built NEF answers: pure functions, no network."""

from __future__ import annotations

import math
import random

import pytest

from af_server.schemas import UeChoice
from af_server.selection import (
    Candidate,
    Plan,
    Prediction,
    budget_s,
    p_on_time,
    select,
    select_deadline,
    select_random,
    select_utility,
    system_utility,
)

MB = 1_000_000


def ue(
    name: str,
    *,
    ul_s: float,
    dl_s: float = 0.01,
    step_s: float = 0.01,
    conf: float | None = 1.0,
    var: float = 0.0,
    cell: str | None = None,
    loss: float | None = None,
    samples: int = 1000,
) -> Candidate:
    """A UE as the NEF would describe it: transfer times of 1 MB each way, with their variance."""
    return Candidate(
        gpsi=f"msisdn-9100000{name}",
        num_samples=samples,
        seconds_per_step=step_s,
        prediction=Prediction(dl_s, var, ul_s, var, conf, ul_bytes=MB, dl_bytes=MB),
        cell_id=cell,
        last_loss=loss,
    )


def names(sel_choices: list[UeChoice]) -> list[str]:
    return [c.gpsi.removeprefix("msisdn-9100000") for c in sel_choices]


def test_sync_fixed_deadline_counts_download_compute_and_upload() -> None:
    # 10 steps of 0.1 s: 1 s of compute; 0.2 s down, 0.5 s up: 1.7 s in all
    c = ue("00001", ul_s=0.5, dl_s=0.2, step_s=0.1)
    assert p_on_time(c, Plan(k=1, steps=10, deadline_s=1.8)) == 1.0
    assert p_on_time(c, Plan(k=1, steps=10, deadline_s=1.6)) == 0.0
    # with variance: exactly at the mean, half the chance
    c.prediction = Prediction(0.2, 0.01, 0.5, 0.01, 1.0, MB, MB)
    assert p_on_time(c, Plan(k=1, steps=10, deadline_s=1.7)) == pytest.approx(0.5)
    assert budget_s(c, Plan(k=1, steps=10, deadline_s=1.8)) == pytest.approx(0.4)


def test_realtime_budget_is_the_tr_rule_and_each_direction_must_fit() -> None:
    # TR 22.874 Table 7.x.6-1, batch 64: 325 ms of compute leaves 162.5 ms per direction
    c = ue("00001", ul_s=0.15, dl_s=0.1, step_s=0.325)
    plan = Plan(k=1, steps=1, timeline="realtime")
    assert budget_s(c, plan) == pytest.approx(0.1625)
    assert p_on_time(c, plan) == 1.0
    # the AF's own aggregation time comes off each direction: 0.1625 - 0.02 < 0.15
    assert budget_s(c, Plan(k=1, steps=1, timeline="realtime", aggregation_s=0.02)) == pytest.approx(0.1425)
    assert p_on_time(c, Plan(k=1, steps=1, timeline="realtime", aggregation_s=0.02)) == 0.0


def test_confidence_and_missing_predictions() -> None:
    c = ue("00001", ul_s=0.1, conf=0.8)
    assert p_on_time(c, Plan(k=1, steps=1, deadline_s=5)) == pytest.approx(0.8)
    c.prediction = None
    assert p_on_time(c, Plan(k=1, steps=1, deadline_s=5)) == 0.0
    never = ue("00002", ul_s=math.inf)
    assert p_on_time(never, Plan(k=1, steps=1, deadline_s=5)) == 0.0


def test_random_samples_k_without_over_selection() -> None:
    cands = [ue(f"{i:05d}", ul_s=10.0) for i in range(20)]  # none of them can make it
    sel = select_random(cands, Plan(k=5, steps=1, deadline_s=1.0), random.Random(1))
    assert len(sel.choices) == 5
    assert all(c.reason == "random sample" for c in sel.choices)
    assert sel.expected_on_time == 0.0
    again = select_random(cands, Plan(k=5, steps=1, deadline_s=1.0), random.Random(1))
    assert names(again.choices) == names(sel.choices)


def test_deadline_takes_only_ues_that_fit_and_records_why() -> None:
    fast = [ue(f"0000{i}", ul_s=0.2) for i in range(4)]
    slow = [ue(f"0001{i}", ul_s=3.0) for i in range(4)]
    sel = select_deadline(fast + slow, Plan(k=3, steps=10, deadline_s=1.0), random.Random(0))
    chosen = set(names(sel.choices))
    assert chosen <= {f"0000{i}" for i in range(4)}
    assert len(chosen) == 3  # p = 1 each: three expected on time
    for c in sel.choices:
        assert c.p_on_time == 1.0 and c.predicted_ul_s == 0.2 and c.budget_s == pytest.approx(0.45)
        assert "P(on time) >= 0.95" in c.reason


def test_over_selection_reaches_k_expected_on_time() -> None:
    # each UE is on time with p = 0.9 (the NEF expects it connected 90 % of the window)
    cands = [ue(f"{i:05d}", ul_s=0.1, conf=0.9) for i in range(10)]
    plan = Plan(k=3, steps=1, deadline_s=1.0, p_target=0.85)
    sel = select_deadline(cands, plan, random.Random(0))
    # 3 / 0.9 = 3.33: the fewest with sum(p) >= 3 is 4
    assert len(sel.choices) == 4
    assert sel.expected_on_time == pytest.approx(3.6)
    # with p = 0.5 the expected count needs 6 = 2k; a cap of 1.34 k stops at 5
    halves = [ue(f"{i:05d}", ul_s=0.1, conf=0.5) for i in range(10)]
    assert (
        len(
            select_deadline(
                halves, Plan(k=3, steps=1, deadline_s=1.0, p_target=0.4), random.Random(0)
            ).choices
        )
        == 6
    )
    capped = Plan(k=3, steps=1, deadline_s=1.0, p_target=0.4, max_factor=1.34)
    assert len(select_deadline(halves, capped, random.Random(0)).choices) == 5


def test_ues_sharing_a_cell_share_its_capacity() -> None:
    # alone each uploads in 0.4 s (deadline 1 s, 0.1 s compute); two in one cell take 0.8 s each and
    # three 1.2 s: a third UE in a cell would push all three past the deadline
    a = [ue(f"0000{i}", ul_s=0.4, cell="A") for i in range(3)]
    b = [ue(f"0001{i}", ul_s=0.4, cell="B") for i in range(3)]
    cell = {c.gpsi: c.cell_id for c in a + b}
    sel = select_deadline(a + b, Plan(k=6, steps=10, deadline_s=1.0), random.Random(2))
    per_cell = {"A": 0, "B": 0}
    for c in sel.choices:
        per_cell[str(cell[c.gpsi])] += 1
        assert c.nef["plannedCellSharing"] == 2
        assert c.predicted_ul_s == pytest.approx(0.8)
    assert per_cell == {"A": 2, "B": 2}
    # without sharing, all six would have been taken
    alone = Plan(k=6, steps=10, deadline_s=1.0, share_cells=False)
    assert len(select_deadline(a + b, alone, random.Random(2)).choices) == 6


def test_realtime_deadline_policy_keeps_the_pipeline_first() -> None:
    cands = [ue(f"{i:05d}", ul_s=0.05, step_s=0.1) for i in range(8)]
    cands[5].incumbent = cands[6].incumbent = True
    sel = select_deadline(cands, Plan(k=2, steps=10, timeline="realtime"), random.Random(0))
    assert names(sel.choices) == ["00005", "00006"]
    assert all("pipeline" in c.reason for c in sel.choices)
    # the derived deadline is the TR timeline: compute + both budgets
    assert sel.deadline_s == pytest.approx(1.0 + 2 * 0.5)


def test_system_utility_penalises_time_beyond_the_deadline() -> None:
    plan = Plan(k=1, steps=10, deadline_s=2.0)
    assert system_utility(ue("00001", ul_s=0.5, step_s=0.1), plan) == 1.0
    # 0.01 + 1 + 2.99 = 4 s against 2 s: (2 / 4)^2
    assert system_utility(ue("00002", ul_s=2.99, step_s=0.1), plan) == pytest.approx(0.25)
    assert system_utility(ue("00003", ul_s=math.inf), plan) == 0.0


def test_utility_explores_the_fastest_untried_then_exploits_high_loss() -> None:
    tried = [ue(f"0001{i}", ul_s=0.1, loss=0.01) for i in range(5)]
    tried[3].last_loss = 2.5  # far more to learn from this one
    fresh = [ue("00020", ul_s=0.9, conf=1.0, var=0.04), ue("00021", ul_s=0.1)]
    plan = Plan(k=2, steps=10, deadline_s=1.5, epsilon=0.5)
    sel = select_utility(tried + fresh, plan, random.Random(3))
    chosen = names(sel.choices)
    # ceil(0.5 * 2) = 1 exploration slot: the untried UE with the better P(on time)
    assert chosen[0] == "00021" and "exploring" in sel.choices[0].reason
    assert chosen[1] == "00013" and sel.choices[1].reason.startswith("utility 2500")
    assert "00020" not in chosen


def test_utility_over_selects_when_ues_are_likely_late() -> None:
    # tried UEs with p = 0.5 each: k = 2 needs four of them
    cands = [ue(f"{i:05d}", ul_s=0.9, var=0.0, loss=1.0, conf=0.5) for i in range(6)]
    sel = select_utility(cands, Plan(k=2, steps=10, deadline_s=1.5), random.Random(0))
    assert len(sel.choices) == 4
    assert sel.expected_on_time == pytest.approx(2.0)


def test_select_dispatches_by_name_and_refuses_unknown() -> None:
    cands = [ue(f"{i:05d}", ul_s=0.1) for i in range(3)]
    assert len(select("all", cands, Plan(k=1, steps=1), random.Random(0)).choices) == 3
    with pytest.raises(ValueError, match="unknown selection policy"):
        select("fastest", cands, Plan(k=1, steps=1), random.Random(0))


def test_prediction_scales_with_volume_and_sharing() -> None:
    p = Prediction(0.1, 0.01, 0.4, 0.04, 1.0, ul_bytes=MB, dl_bytes=2 * MB)
    assert p.ul_rate_bps == pytest.approx(20e6)
    q = p.with_bytes(ul_bytes=MB // 4, dl_bytes=MB)
    assert (q.ul_mean_s, q.ul_var_s2, q.dl_mean_s) == pytest.approx((0.1, 0.0025, 0.05))
    s = p.shared(3)
    assert (s.ul_mean_s, s.ul_var_s2) == pytest.approx((1.2, 0.36))


def test_utility_passes_over_ues_that_would_only_crowd_a_cell() -> None:
    # one cell: two UEs upload in 0.8 s each and make it, a third would make all three late
    crowd = [ue(f"0000{i}", ul_s=0.4, cell="A", loss=1.0) for i in range(6)]
    sel = select_utility(crowd, Plan(k=6, steps=10, deadline_s=1.0), random.Random(0))
    assert len(sel.choices) == 2
    assert sel.expected_on_time == pytest.approx(2.0)
