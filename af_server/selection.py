"""Which UEs train in an iteration, from what the NEF predicts about their links.

Pure functions of the candidates (registry data plus NEF predictions and locations) and a ``Plan``;
every choice carries its reason, its probability of being on time and the NEF data behind it, so
each round record says why a UE was picked.

Budgets. ``budget_s`` is a UE's per-direction transfer budget. ``realtime``, and ``sync`` without a
fixed deadline, use the TR 22.874 rule (``flcore.timeline.derive_budget``: half the UE's compute time
per iteration less the AF's aggregation time). ``sync`` with a fixed deadline D does not overlap
transfers with compute, so each direction gets half of what the deadline leaves: (D - compute) / 2.

On time. With a fixed ``sync`` deadline, P(download + compute + upload + overhead <= D); otherwise
P(download <= budget) * P(upload <= budget). Transfer times are the NEF's means and variances
(``E2E_DATA_VOL_TRANS_TIME``), taken as normal; compute is the UE's measured time per step (mean and
variance); the overhead is what the AF learnt the UE's past exchanges took beyond the NEF's transfer
predictions and its compute (task fetch, decoding, encoding, HTTP; negative when the NEF was
pessimistic). The NEF's confidence (the share of the window the UE is expected connected) multiplies
the result. UEs that would share a cell share its capacity:
with m chosen UEs in a cell each one's transfer times are scaled by m (``Plan.share_cells``).

Energy. A UE that declared its device's powers at registration (``flcore.protocol.EnergyProfile``)
is predicted to spend, in one iteration, train_power_w x compute + ul_power_w x upload time +
dl_power_w x download time (``flcore.energy.EnergyModel``; idle left out, as in what the UE reports):
the compute is the one P(on time) uses, the transfer times the NEF's means with the cell shared as
above, so a UE in poor coverage or a crowded cell costs more radio energy. Without a NEF prediction
only the training part is counted. Once the UE has reported energies (``Fl5g-Energy-Joules``), the
prediction is multiplied by ``Candidate.energy_ratio``, an EWMA (in log space) of reported over
predicted joules (``calibrated_ratio``), reset when the UE registers again. With the job's
``max_energy_j``, every policy first leaves out the UEs predicted above it alone in their cell, and
those without a profile (the round record lists them in ``over_energy_cap``); the over-selecting
policies also pass over a UE whose joining would push it, or a UE already chosen in its cell, above
the cap by sharing the cell. ``random`` and ``all`` check the cap alone in the cell only.

Policies:

- ``random``: k UEs uniformly at random, no over-selection (the baseline).
- ``deadline`` (FedCS-style): only UEs with P(on time) >= ``p_target`` are eligible, counting the
  sharing of their cell with the UEs already chosen. Among eligible UEs the order is random (seeded
  per round; in ``realtime`` the UEs of the running pipeline come first): FedCS's greedy
  fastest-first order would pick the same few UEs every round and, on non-IID data, train on their
  partitions only.
- ``utility`` (Oort-style): statistical utility |B| * loss (the UE's reported mean training loss
  stands in for sqrt(mean loss^2)) times the system utility (T / t)^alpha when the predicted time t
  exceeds the preferred time T (the deadline, or the budget per direction), 1 otherwise. A share
  ``epsilon`` of the k slots explores UEs never tried, fastest (highest P(on time)) first; the others
  are taken in a random order weighted by utility (Efraimidis-Spirakis keys), so high-utility UEs
  come first most of the time without starving the rest.
- ``energy``: the UEs eligible under the ``deadline`` rule, taken in a random order weighted by
  1 / (predicted joules)^``energy_exponent`` (Efraimidis-Spirakis keys; seeded per round; the
  pipeline first in ``realtime``): frugal UEs come first most of the time, the others still get
  their turn, so their partitions are not left out of training. UEs without a profile come last.

Over-selection (``deadline``, ``utility``, ``energy``): UEs are taken in the policy's order until the
expected number of on-time UEs, sum(P(on time)) over the chosen (each with its cell shared by the
chosen UEs in it), reaches k; never more than ``max_factor * k``, and a UE that would not raise that sum by
``MIN_GAIN`` (it would only crowd its cell) is passed over.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from af_server.schemas import UeChoice
from flcore.energy import EnergyModel
from flcore.timeline import derive_budget

Timeline = Literal["sync", "realtime"]
MIN_BUDGET_S = 0.01
MIN_GAIN = 0.05
"""A UE is only added when it raises the expected number of on-time UEs by at least this much."""
ENERGY_RATIO_RANGE = (0.25, 4.0)
"""How far reported energies may move a UE's predictions (a wrong profile, not a rounding)."""
ENERGY_EWMA = 0.3


@dataclass(frozen=True)
class Prediction:
    """Predicted transfer times of ``ul_bytes`` up and ``dl_bytes`` down for one UE (NEF analytics)."""

    dl_mean_s: float
    dl_var_s2: float
    ul_mean_s: float
    ul_var_s2: float
    confidence: float | None = None
    ul_bytes: int = 0
    dl_bytes: int = 0

    def shared(self, n: int) -> Prediction:
        """The times when the cell is shared equally by ``n`` of our transfers."""
        if n <= 1:
            return self
        return replace(
            self,
            dl_mean_s=self.dl_mean_s * n,
            dl_var_s2=self.dl_var_s2 * n * n,
            ul_mean_s=self.ul_mean_s * n,
            ul_var_s2=self.ul_var_s2 * n * n,
        )

    def with_bytes(self, ul_bytes: int | None = None, dl_bytes: int | None = None) -> Prediction:
        """The same link carrying other volumes (times scale with the volume)."""
        out = self
        if ul_bytes is not None and ul_bytes != self.ul_bytes and self.ul_bytes > 0:
            m, v = _scaled(self.ul_mean_s, self.ul_var_s2, ul_bytes / self.ul_bytes)
            out = replace(out, ul_mean_s=m, ul_var_s2=v, ul_bytes=ul_bytes)
        if dl_bytes is not None and dl_bytes != self.dl_bytes and self.dl_bytes > 0:
            m, v = _scaled(self.dl_mean_s, self.dl_var_s2, dl_bytes / self.dl_bytes)
            out = replace(out, dl_mean_s=m, dl_var_s2=v, dl_bytes=dl_bytes)
        return out

    @property
    def ul_rate_bps(self) -> float | None:
        """The effective (harmonic-mean) uplink rate behind the prediction; None when unknown."""
        if self.ul_bytes <= 0 or not (0 < self.ul_mean_s < math.inf):
            return None
        return 8.0 * self.ul_bytes / self.ul_mean_s


def _scaled(mean: float, var: float, f: float) -> tuple[float, float]:
    return (0.0, 0.0) if f <= 0 else (mean * f, var * f * f)


@dataclass
class Candidate:
    gpsi: str
    num_samples: int
    seconds_per_step: float
    step_var_s2: float = 0.0
    prediction: Prediction | None = None
    overhead_s: float = 0.0
    overhead_var_s2: float = 0.0
    on_time_rate: float | None = None
    last_loss: float | None = None
    times_selected: int = 0
    cell_id: str | None = None
    band: str | None = None
    incumbent: bool = False
    nef: dict[str, object] = field(default_factory=dict)
    energy: EnergyModel | None = None
    energy_ratio: float = 1.0
    """Reported over predicted joules (EWMA, ``calibrated_ratio``); 1 until the UE has reported."""

    def compute_s(self, steps: int) -> float:
        return self.seconds_per_step * steps

    def compute_var_s2(self, steps: int) -> float:
        # a slow-down (CPU contention) hits every step of an iteration alike: fully correlated
        return self.step_var_s2 * steps * steps


@dataclass(frozen=True)
class Plan:
    """What the iteration asks: k UEs on time, with these local steps, timeline and deadline."""

    k: int
    steps: int
    timeline: Timeline = "sync"
    deadline_s: float | None = None
    aggregation_s: float = 0.0
    p_target: float = 0.95
    max_factor: float = 2.0
    epsilon: float = 0.2
    alpha: float = 2.0
    share_cells: bool = True
    max_energy_j: float | None = None
    energy_exponent: float = 2.0

    @property
    def fixed_sync(self) -> bool:
        return self.timeline == "sync" and self.deadline_s is not None

    @property
    def cap(self) -> int:
        return max(self.k, math.ceil(self.max_factor * self.k))


@dataclass
class Selection:
    choices: list[UeChoice]
    expected_on_time: float
    deadline_s: float | None = None
    """The deadline this selection implies when the plan had none (``sync`` derived)."""
    over_energy_cap: dict[str, float | None] = field(default_factory=dict)
    """UEs the energy cap left out, with their predicted joules alone in their cell (None: no profile)."""


def _phi(limit: float, mean: float, var: float) -> float:
    """P(X <= limit) for X ~ N(mean, var); a point mass when var is 0."""
    if not math.isfinite(mean) or math.isnan(limit):
        return 0.0
    if var <= 0 or not math.isfinite(var):
        return 1.0 if mean <= limit else 0.0
    return 0.5 * (1.0 + math.erf((limit - mean) / math.sqrt(2.0 * var)))


def budget_s(c: Candidate, plan: Plan) -> float:
    """The UE's per-direction transfer budget (see the module docstring)."""
    compute = c.compute_s(plan.steps)
    if plan.fixed_sync:
        assert plan.deadline_s is not None
        return max(MIN_BUDGET_S, (plan.deadline_s - compute) / 2)
    return derive_budget(compute, plan.aggregation_s, min_budget_s=MIN_BUDGET_S)


def ul_budget_s(c: Candidate, plan: Plan) -> float:
    """The time the upload has: with a fixed ``sync`` deadline, what the download (mean) leaves."""
    if plan.fixed_sync and c.prediction is not None and math.isfinite(c.prediction.dl_mean_s):
        assert plan.deadline_s is not None
        left = plan.deadline_s - c.compute_s(plan.steps) - c.prediction.dl_mean_s
        return max(MIN_BUDGET_S, left)
    return budget_s(c, plan)


def p_on_time(c: Candidate, plan: Plan, share: int = 1) -> float:
    """P(the UE's exchange fits), with its cell shared by ``share`` of our transfers."""
    if c.prediction is None:
        return 0.0
    q = c.prediction.shared(share)
    conf = 1.0 if c.prediction.confidence is None else min(1.0, max(0.0, c.prediction.confidence))
    if plan.fixed_sync:
        assert plan.deadline_s is not None
        mean = q.dl_mean_s + c.compute_s(plan.steps) + q.ul_mean_s + c.overhead_s
        var = q.dl_var_s2 + q.ul_var_s2 + c.compute_var_s2(plan.steps) + c.overhead_var_s2
        return conf * _phi(plan.deadline_s, mean, var)
    b = budget_s(c, plan)
    return conf * _phi(b, q.dl_mean_s, q.dl_var_s2) * _phi(b, q.ul_mean_s, q.ul_var_s2)


def _cell(c: Candidate, plan: Plan) -> str | None:
    return c.cell_id if plan.share_cells else None


def _shares(chosen: Sequence[Candidate], plan: Plan) -> Counter[str | None]:
    return Counter(_cell(c, plan) for c in chosen)


def _share_of(c: Candidate, counts: Counter[str | None], plan: Plan) -> int:
    cell = _cell(c, plan)
    return counts[cell] if cell is not None else 1


def _choice(c: Candidate, plan: Plan, reason: str, share: int) -> UeChoice:
    p = c.prediction.shared(share) if c.prediction is not None else None
    nef = dict(c.nef)
    if share > 1:
        nef["plannedCellSharing"] = share
    return UeChoice(
        gpsi=c.gpsi,
        reason=reason,
        predicted_dl_s=_finite(p.dl_mean_s) if p else None,
        predicted_ul_s=_finite(p.ul_mean_s) if p else None,
        p_on_time=round(p_on_time(c, plan, share), 4) if p else None,
        budget_s=round(budget_s(c, plan), 6),
        predicted_energy_j=_rounded(predicted_energy_j(c, plan, share)),
        nef=nef,
    )


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _rounded(x: float | None) -> float | None:
    return round(x, 4) if x is not None and math.isfinite(x) else None


def predicted_energy_j(c: Candidate, plan: Plan, share: int = 1) -> float | None:
    """The UE's predicted joules for one iteration, its cell shared by ``share`` of our transfers;
    None without a device profile, inf when the NEF predicts it cannot move its bytes."""
    if c.energy is None:
        return None
    ul_s = dl_s = 0.0
    if c.prediction is not None:
        q = c.prediction.shared(share)
        ul_s, dl_s = q.ul_mean_s, q.dl_mean_s
    if not (math.isfinite(ul_s) and math.isfinite(dl_s)):
        return math.inf
    joules = c.energy.iteration_joules(compute_s=c.compute_s(plan.steps), ul_s=ul_s, dl_s=dl_s)
    return joules * c.energy_ratio


def within_energy_cap(c: Candidate, plan: Plan, share: int = 1) -> bool:
    if plan.max_energy_j is None:
        return True
    joules = predicted_energy_j(c, plan, share)
    return joules is not None and joules <= plan.max_energy_j


def calibrated_ratio(ratio: float, reported_j: float, predicted_j: float) -> float:
    """The UE's next ``energy_ratio`` once it reported ``reported_j`` for an iteration predicted (with
    ``ratio`` applied) at ``predicted_j``: an EWMA of log(reported / uncalibrated prediction), clamped."""
    lo, hi = ENERGY_RATIO_RANGE
    if not (predicted_j > 0 and reported_j > 0 and math.isfinite(reported_j) and math.isfinite(predicted_j)):
        return ratio
    observed = math.log(ratio * reported_j / predicted_j)  # reported over the uncalibrated prediction
    return min(hi, max(lo, math.exp((1 - ENERGY_EWMA) * math.log(ratio) + ENERGY_EWMA * observed)))


def _greedy(order: Sequence[Candidate], plan: Plan, *, eligible_p: float | None) -> list[Candidate]:
    """Take UEs in ``order`` until the expected on-time count reaches k (or the cap).

    With ``eligible_p``, a UE is skipped when it, or a UE already chosen in its cell, would fall below
    that probability once the cell is shared by one more of our transfers; likewise above the plan's
    energy cap.
    """
    chosen: list[Candidate] = []
    counts: Counter[str | None] = Counter()
    expected = 0.0
    for c in order:
        if len(chosen) >= plan.cap:
            break
        cell = _cell(c, plan)
        trial = counts.copy()
        trial[cell] += 1
        same = [x for x in chosen if cell is not None and _cell(x, plan) == cell]
        if eligible_p is not None:
            if any(p_on_time(x, plan, _share_of(x, trial, plan)) < eligible_p for x in [c, *same]):
                continue
        if not all(within_energy_cap(x, plan, _share_of(x, trial, plan)) for x in [c, *same]):
            continue  # sharing the cell would keep its radios on longer than the cap allows
        gain = _expected([*chosen, c], plan, trial)
        if gain <= expected + MIN_GAIN:
            continue  # it would only crowd its cell: the UEs there would be late together
        chosen.append(c)
        counts, expected = trial, gain
        if expected >= plan.k:
            break
    return chosen


def _expected(chosen: Sequence[Candidate], plan: Plan, counts: Counter[str | None] | None = None) -> float:
    counts = counts if counts is not None else _shares(chosen, plan)
    return sum(p_on_time(c, plan, _share_of(c, counts, plan)) for c in chosen)


def _result(chosen: list[Candidate], plan: Plan, reasons: dict[str, str]) -> Selection:
    counts = _shares(chosen, plan)
    choices = [_choice(c, plan, reasons[c.gpsi], _share_of(c, counts, plan)) for c in chosen]
    derived = None
    if not plan.fixed_sync and chosen:
        # the TR timeline of the slowest chosen UE: its compute plus both directions' budgets
        derived = max(c.compute_s(plan.steps) + 2 * budget_s(c, plan) for c in chosen)
    return Selection(choices, round(_expected(chosen, plan, counts), 4), derived)


def select_random(cands: Sequence[Candidate], plan: Plan, rng: random.Random) -> Selection:
    picked = rng.sample(list(cands), min(plan.k, len(cands)))
    return _result(picked, plan, {c.gpsi: "random sample" for c in picked})


def select_all(cands: Sequence[Candidate], plan: Plan) -> Selection:
    return _result(list(cands), plan, {c.gpsi: "all active UEs" for c in cands})


def _incumbents_first(order: list[Candidate], plan: Plan) -> list[Candidate]:
    """In ``realtime`` the UEs already in the pipeline come first (a stable sort keeps the order)."""
    if plan.timeline == "realtime":
        order.sort(key=lambda c: not c.incumbent)
    return order


def _pipeline_first(cands: Sequence[Candidate], plan: Plan, rng: random.Random) -> list[Candidate]:
    """A random order; in ``realtime`` the UEs already in the pipeline come first."""
    order = list(cands)
    rng.shuffle(order)
    return _incumbents_first(order, plan)


def _weighted_order(cands: Sequence[Candidate], weight: Callable[[Candidate], float],
                    rng: random.Random) -> list[Candidate]:
    """A random order in which a UE comes before another with probability in proportion to its
    weight (Efraimidis-Spirakis keys log(u) / w, the largest first); weights <= 0 come last."""

    def key(c: Candidate) -> float:
        w = weight(c)
        return math.log(rng.random() or 1e-300) / w if w > 0 else -math.inf

    return sorted(cands, key=key, reverse=True)


def _eligible(cands: Sequence[Candidate], plan: Plan) -> list[Candidate]:
    """The UEs on time with at least the plan's probability by the NEF's predictions (alone in a cell)."""
    return [c for c in cands if c.prediction is not None and p_on_time(c, plan) >= plan.p_target]


def _fits_reason(c: Candidate, plan: Plan) -> str:
    what = "the deadline" if plan.fixed_sync else "the TR budget per direction"
    pipeline = ", in the running pipeline" if c.incumbent and plan.timeline == "realtime" else ""
    return f"P(on time) >= {plan.p_target:.2f} within {what} by NEF prediction{pipeline}"


def select_deadline(cands: Sequence[Candidate], plan: Plan, rng: random.Random) -> Selection:
    chosen = _greedy(_pipeline_first(_eligible(cands, plan), plan, rng), plan, eligible_p=plan.p_target)
    return _result(chosen, plan, {c.gpsi: _fits_reason(c, plan) for c in chosen})


def system_utility(c: Candidate, plan: Plan) -> float:
    """Oort's system term: 1 within the preferred time, (T / t)^alpha beyond it."""
    p = c.prediction
    if p is None:
        return 0.0
    if plan.fixed_sync:
        assert plan.deadline_s is not None
        t, pref = p.dl_mean_s + c.compute_s(plan.steps) + p.ul_mean_s, plan.deadline_s
    else:
        t, pref = max(p.dl_mean_s, p.ul_mean_s), budget_s(c, plan)
    if not math.isfinite(t):
        return 0.0
    return 1.0 if t <= pref else (pref / t) ** plan.alpha


def statistical_utility(c: Candidate) -> float | None:
    """|B| * loss, the UE's last reported mean training loss; None when the UE was never tried."""
    if c.last_loss is None or not math.isfinite(c.last_loss):
        return None
    return c.num_samples * max(c.last_loss, 0.0)


def utility(c: Candidate, plan: Plan) -> float | None:
    stat = statistical_utility(c)
    return None if stat is None else stat * system_utility(c, plan)


def select_utility(cands: Sequence[Candidate], plan: Plan, rng: random.Random) -> Selection:
    known = [c for c in cands if c.prediction is not None]
    tried = [c for c in known if c.last_loss is not None]
    fresh = [c for c in known if c.last_loss is None]
    # exploration: never-tried UEs, fastest first (Oort explores by speed), ties broken at random
    rng.shuffle(fresh)
    fresh.sort(key=lambda c: -p_on_time(c, plan))
    n_explore = len(fresh) if not tried else min(len(fresh), math.ceil(plan.epsilon * plan.k))
    utils = {c.gpsi: utility(c, plan) or 0.0 for c in tried}
    exploit = _incumbents_first(_weighted_order(tried, lambda c: utils[c.gpsi], rng), plan)
    order = fresh[:n_explore] + exploit + fresh[n_explore:]
    chosen = _greedy(order, plan, eligible_p=None)
    explored = {c.gpsi for c in fresh[:n_explore]} | {c.gpsi for c in fresh[n_explore:]}
    reasons = {
        c.gpsi: "exploring a never-tried UE (fastest first)"
        if c.gpsi in explored
        else f"utility {utils[c.gpsi]:.4g} (samples x loss x system utility {system_utility(c, plan):.3g})"
        for c in chosen
    }
    return _result(chosen, plan, reasons)


def select_energy(cands: Sequence[Candidate], plan: Plan, rng: random.Random) -> Selection:
    fits = _eligible(cands, plan)
    joules = {c.gpsi: predicted_energy_j(c, plan) for c in fits}

    def weight(c: Candidate) -> float:  # joules^-exponent; no profile or no way to send: last
        j = joules[c.gpsi]
        if j is None or not math.isfinite(j):
            return 0.0
        return math.inf if j <= 0 else math.pow(j, -plan.energy_exponent)

    order = list(fits)
    rng.shuffle(order)  # the order among UEs of weight 0 (no profile) is random too
    chosen = _greedy(_incumbents_first(_weighted_order(order, weight, rng), plan), plan,
                     eligible_p=plan.p_target)
    counts = _shares(chosen, plan)

    def why(c: Candidate) -> str:
        # the joules of the choice itself: with its cell shared by the chosen UEs in it
        j = _rounded(predicted_energy_j(c, plan, _share_of(c, counts, plan)))
        cost = "no energy profile" if joules[c.gpsi] is None else f"predicted {j:.3g} J"
        return f"{cost} (frugal UEs first, weighted random order); {_fits_reason(c, plan)}"

    return _result(chosen, plan, {c.gpsi: why(c) for c in chosen})


POLICIES = ("random", "deadline", "utility", "energy", "all")


def energy_capped(cands: Sequence[Candidate], plan: Plan) -> tuple[list[Candidate], dict[str, float | None]]:
    """The candidates within the plan's energy cap alone in their cell, and the others with their
    predicted joules (None: no profile)."""
    if plan.max_energy_j is None:
        return list(cands), {}
    kept = [c for c in cands if within_energy_cap(c, plan)]
    ids = {c.gpsi for c in kept}
    return kept, {c.gpsi: _rounded(predicted_energy_j(c, plan)) for c in cands if c.gpsi not in ids}


def select(policy: str, cands: Sequence[Candidate], plan: Plan, rng: random.Random) -> Selection:
    if policy not in POLICIES:
        raise ValueError(f"unknown selection policy {policy!r}; known: {', '.join(POLICIES)}")
    kept, over = energy_capped(cands, plan)
    if policy == "all":
        sel = select_all(kept, plan)
    elif policy == "random":
        sel = select_random(kept, plan, rng)
    elif policy == "deadline":
        sel = select_deadline(kept, plan, rng)
    elif policy == "utility":
        sel = select_utility(kept, plan, rng)
    else:
        sel = select_energy(kept, plan, rng)
    sel.over_energy_cap = over
    return sel
