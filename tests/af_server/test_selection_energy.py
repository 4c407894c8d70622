"""Energy in selection: the predicted joules of an iteration, the job's cap and the ``energy`` policy.
Pure functions on hand-built NEF answers, no network."""

from __future__ import annotations

import math
import random
import statistics
from collections import Counter

import pytest

from af_server.selection import (
    ENERGY_RATIO_RANGE,
    POLICIES,
    Candidate,
    Plan,
    Prediction,
    calibrated_ratio,
    predicted_energy_j,
    select,
    select_deadline,
    select_energy,
)
from flcore.energy import EnergyModel

MB = 1_000_000
PHONE = EnergyModel(train_power_w=4.0, ul_power_w=2.5, dl_power_w=1.2, idle_power_w=0.05)


def ue(
    name: str,
    *,
    ul_s: float,
    dl_s: float = 0.2,
    step_s: float = 0.1,
    cell: str | None = None,
    energy: EnergyModel | None = PHONE,
) -> Candidate:
    return Candidate(
        gpsi=f"msisdn-9100000{name}",
        num_samples=1000,
        seconds_per_step=step_s,
        prediction=Prediction(dl_s, 0.0, ul_s, 0.0, 1.0, ul_bytes=MB, dl_bytes=MB),
        cell_id=cell,
        energy=energy,
    )


def short(gpsi: str) -> str:
    return gpsi.removeprefix("msisdn-9100000")


@pytest.mark.parametrize(
    ("ul_s", "dl_s", "share", "ratio", "joules"),
    [
        # 10 steps of 0.1 s at 4 W, 0.4 s up at 2.5 W, 0.2 s down at 1.2 W; idle is not counted
        (0.4, 0.2, 1, 1.0, 4.0 + 1.0 + 0.24),
        # FR1 fallback: the same bytes take 2 s up, the radio stays on five times longer
        (2.0, 0.2, 1, 1.0, 4.0 + 5.0 + 0.24),
        # a cell shared by three of our transfers: each takes three times as long
        (0.4, 0.2, 3, 1.0, 4.0 + 3.0 + 0.72),
        # the UE reported half of what was predicted, so far
        (0.4, 0.2, 1, 0.5, (4.0 + 1.0 + 0.24) / 2),
    ],
)
def test_predicted_energy_is_power_times_time_in_each_state(
    ul_s: float, dl_s: float, share: int, ratio: float, joules: float
) -> None:
    c = ue("00001", ul_s=ul_s, dl_s=dl_s)
    c.energy_ratio = ratio
    assert predicted_energy_j(c, Plan(k=1, steps=10), share) == pytest.approx(joules)


def test_predicted_energy_without_a_profile_or_a_prediction() -> None:
    plan = Plan(k=1, steps=10)
    assert predicted_energy_j(ue("00001", ul_s=0.4, energy=None), plan) is None
    no_nef = ue("00002", ul_s=0.4)
    no_nef.prediction = None
    assert predicted_energy_j(no_nef, plan) == pytest.approx(4.0)  # the training part alone
    assert predicted_energy_j(ue("00003", ul_s=math.inf), plan) == math.inf


def population() -> list[Candidate]:
    """20 UEs that all fit a 5 s deadline over 10 steps, 0.71 J to 5.46 J apart only by their uplink time."""
    return [ue(f"{i:05d}", ul_s=0.1 + 0.1 * i, dl_s=0.05, step_s=0.01) for i in range(20)]


@pytest.mark.parametrize("policy", POLICIES)
def test_the_cap_leaves_out_exactly_the_ues_predicted_above_it(policy: str) -> None:
    # Prepare: 0.4 J of training + 2.5 W x (0.1 .. 2.0 s) up + 0.06 J down; a cap of 3 J
    cands = population() + [ue("00099", ul_s=0.1, dl_s=0.05, step_s=0.01, energy=None)]
    plan = Plan(k=20, steps=10, deadline_s=5.0, max_energy_j=3.0, share_cells=False)
    joules = {c.gpsi: predicted_energy_j(c, plan) for c in cands}
    above = {g for g, j in joules.items() if j is None or j > 3.0}
    # Execute
    sel = select(policy, cands, plan, random.Random(0))
    # Assert
    assert set(sel.over_energy_cap) == above
    assert sel.over_energy_cap["msisdn-910000000099"] is None  # no profile: no prediction
    assert all(
        sel.over_energy_cap[g] == pytest.approx(joules[g], abs=1e-4) for g in above - {"msisdn-910000000099"}
    )
    chosen = {c.gpsi for c in sel.choices}
    assert chosen and not chosen & above
    assert all(c.predicted_energy_j is not None and c.predicted_energy_j <= 3.0 for c in sel.choices)
    if policy == "all":
        assert chosen == set(joules) - above
    # without the cap, the same policy takes UEs above it
    free = select(policy, cands, Plan(k=20, steps=10, deadline_s=5.0, share_cells=False), random.Random(0))
    assert {c.gpsi for c in free.choices} & above and free.over_energy_cap == {}


def test_the_cap_counts_the_cell_sharing_it_would_cause() -> None:
    # alone: 0.4 + 2.5 x 0.4 + 1.2 x 0.05 = 1.46 J; two in one cell: 2.52 J, above a 2 J cap
    cell_a = [ue(f"0000{i}", ul_s=0.4, dl_s=0.05, step_s=0.01, cell="A") for i in range(3)]
    cell_b = [ue(f"0001{i}", ul_s=0.4, dl_s=0.05, step_s=0.01, cell="B") for i in range(3)]
    for policy in ("deadline", "energy"):
        sel = select(
            policy, cell_a + cell_b, Plan(k=6, steps=10, deadline_s=5.0, max_energy_j=2.0), random.Random(1)
        )
        assert sel.over_energy_cap == {}  # every UE is within the cap alone in its cell
        cells = Counter(c.gpsi[-2] for c in sel.choices)
        assert cells == {"0": 1, "1": 1}, policy
        assert all(c.predicted_energy_j == pytest.approx(1.46) for c in sel.choices)
    # a 3 J cap lets two share a cell (and no more: three would take 3.58 J each)
    sel = select(
        "deadline", cell_a + cell_b, Plan(k=6, steps=10, deadline_s=5.0, max_energy_j=3.0), random.Random(1)
    )
    assert Counter(c.gpsi[-2] for c in sel.choices) == {"0": 2, "1": 2}


def test_energy_policy_spends_less_than_deadline_on_the_same_ues() -> None:
    # Prepare: every UE fits the deadline; k = 5 of 20
    plan = Plan(k=5, steps=10, deadline_s=5.0, share_cells=False)

    def mean_joules(policy: str, seed: int) -> float:
        sel = select(policy, population(), plan, random.Random(seed))
        assert len(sel.choices) == 5
        return statistics.mean(c.predicted_energy_j or math.nan for c in sel.choices)

    # Execute / Assert: the same seed gives the same choice, and a frugal one
    assert mean_joules("energy", 7) == mean_joules("energy", 7)
    assert mean_joules("energy", 7) < mean_joules("deadline", 7)
    # over many rounds, by a wide margin (deadline's random order averages the population's 3.085 J)
    energy = statistics.mean(mean_joules("energy", s) for s in range(200))
    deadline = statistics.mean(mean_joules("deadline", s) for s in range(200))
    assert deadline == pytest.approx(3.085, abs=0.15)
    assert energy < 0.7 * deadline


def test_energy_policy_still_gives_costly_ues_their_turn() -> None:
    plan = Plan(k=5, steps=10, deadline_s=5.0, share_cells=False)
    picks: Counter[str] = Counter()
    for seed in range(400):
        picks.update(short(c.gpsi) for c in select_energy(population(), plan, random.Random(seed)).choices)
    assert set(picks) == {f"{i:05d}" for i in range(20)}  # nobody starved, the costliest included
    assert picks["00000"] > 5 * picks["00019"]  # yet the frugal come first far more often


def test_energy_policy_keeps_the_deadline_rule_and_says_why() -> None:
    late = ue("00050", ul_s=6.0, dl_s=0.05, step_s=0.01)  # cannot fit a 5 s deadline
    no_profile = ue("00051", ul_s=0.1, dl_s=0.05, step_s=0.01, energy=None)
    cands = [*population()[10:], late, no_profile]
    sel = select_energy(cands, Plan(k=12, steps=10, deadline_s=5.0, share_cells=False), random.Random(0))
    chosen = [short(c.gpsi) for c in sel.choices]
    assert "00050" not in chosen
    assert chosen[-1] == "00051"  # a UE of unknown cost comes after every UE of known cost
    for c in sel.choices[:-1]:
        assert f"predicted {c.predicted_energy_j:.3g} J" in c.reason and "P(on time) >= 0.95" in c.reason
    assert sel.choices[-1].predicted_energy_j is None and "no energy profile" in sel.choices[-1].reason


def test_energy_policy_in_realtime_keeps_the_pipeline_first() -> None:
    cands = population()
    cands[19].incumbent = True  # the costliest, but already in the pipeline
    # 1000 steps: 10 s of compute leave the TR budget of 5 s per direction
    sel = select_energy(cands, Plan(k=2, steps=1000, timeline="realtime"), random.Random(0))
    assert short(sel.choices[0].gpsi) == "00019" and "pipeline" in sel.choices[0].reason


def test_deadline_choices_carry_their_predicted_energy_too() -> None:
    sel = select_deadline(population()[:3], Plan(k=3, steps=10, deadline_s=5.0), random.Random(0))
    assert sorted(c.predicted_energy_j or 0 for c in sel.choices) == pytest.approx([0.71, 0.96, 1.21])


def test_calibration_moves_towards_what_the_ue_reports() -> None:
    # the UE reports 60 % of the uncalibrated prediction, every time: the ratio converges to 0.6
    raw, ratio = 5.0, 1.0
    for _ in range(40):
        ratio = calibrated_ratio(ratio, reported_j=0.6 * raw, predicted_j=ratio * raw)
    assert ratio == pytest.approx(0.6, rel=1e-3)
    # one report moves it by the EWMA's weight (in log space), not all the way
    assert calibrated_ratio(1.0, 2.0, 1.0) == pytest.approx(2.0**0.3)
    # a report far off (a profile that lies) moves it only within bounds
    lo, hi = ENERGY_RATIO_RANGE
    assert calibrated_ratio(hi, 1e6, 1.0) == hi and calibrated_ratio(lo, 1e-6, 1.0) == lo
    # nothing to learn from a zero or non-finite figure
    for reported, predicted in ((0.0, 1.0), (1.0, 0.0), (math.inf, 1.0), (math.nan, 1.0)):
        assert calibrated_ratio(0.8, reported, predicted) == 0.8
