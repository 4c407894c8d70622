"""Planning one iteration: the candidates and what the NEF says about them, the selection, the
deadline and each chosen UE's upload byte budget.

The NEF is read through its 3GPP northbound APIs only (``af_server.nef_client``): predicted
transfer times of this iteration's volumes (``3gpp-analyticsexposure`` ``E2E_DATA_VOL_TRANS_TIME``)
and each UE's serving cell (``3gpp-monitoring-event`` one-time ``LOCATION_REPORTING``; the cell's
tracking area tells FR2 small cells from the FR1 layer, ``AfSettings.fr2_tacs``). When the NEF cannot
be reached, ``deadline``, ``utility`` and ``energy`` fall back to ``random`` with the fallback
deadline (a job's ``max_energy_j`` then weighs the training energy alone), and the round says so
(``nef_degraded``, metric ``flaf_nef_degraded``).

Deadlines:

- ``sync``, fixed: the job's seconds. Derived: for ``deadline``/``utility``/``energy`` the TR
  timeline of the slowest chosen UE (compute + 2 x its TR budget); for ``random``/``all`` the slowest
  chosen UE's predicted download + compute + upload; without NEF data, compute x 2 + 1 s. All times
  ``slack``.
- ``realtime``: the job's fixed seconds, or C x ``slack`` + the TR budget of C, with C the slowest
  compute time per iteration among the chosen and due UEs: the update an iteration collects was being
  computed when it opened and must then be uploaded. It closes earlier once every update it collects
  is in, so the pipeline runs at the UEs' pace, one compute time per iteration.

Every deadline is clamped to the job's [min_seconds, max_seconds].
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from af_server.budgets import byte_budget
from af_server.metrics import Metrics
from af_server.modelstore import DEFAULT_DOWNLINK_DENSITY, GlobalModel
from af_server.nef_client import NefClient, NefError
from af_server.schemas import JobState, UeChoice
from af_server.selection import Candidate, Plan, Prediction, Selection, select
from af_server.settings import AfSettings
from af_server.store import Store
from flcore.codecs import encoded_size
from flcore.energy import EnergyModel
from flcore.protocol import EnergyProfile
from flcore.timeline import derive_budget

log = logging.getLogger("af_server.planner")

DEFAULT_STEP_S = 0.02
INFORMED = ("deadline", "utility", "energy")
"""The policies that need the NEF's predictions (the others sample without them)."""
TOPK_FLOOR_DENSITY = 0.001
"""topk: the least useful upload; selection asks whether a UE can send at least this much in time."""


@dataclass
class RoundPlan:
    choices: list[UeChoice]
    deadline_s: float
    policy: str
    degraded: bool
    expected_on_time: float | None
    candidates: dict[str, Candidate]
    over_energy_cap: dict[str, float | None]


@dataclass(frozen=True)
class Volumes:
    ul_bytes: int
    dl_full: int
    dl_delta: int
    ul_cap: int | None
    ul_floor: int


def volumes(job: JobState, model: GlobalModel) -> Volumes:
    """This iteration's bytes: the upload (for topk, the floor and the cap of its byte budget) and the
    download (full model, or the delta a UE holding the previous version gets)."""
    spec, ms = job.spec, model.spec
    full = len(model.wire())
    if spec.downlink == "int8":
        delta = encoded_size(ms, codec="int8", block=256)
    elif spec.downlink == "topk":
        delta = encoded_size(ms, codec="topk", density=spec.downlink_density or DEFAULT_DOWNLINK_DENSITY)
    else:
        delta = full
    if spec.codec == "topk":
        v = spec.topk_values
        floor = encoded_size(ms, codec="topk", density=min(spec.density or 1.0, TOPK_FLOOR_DENSITY), values=v)
        cap = encoded_size(ms, codec="topk", density=spec.density, values=v) if spec.density else None
        return Volumes(floor, full, min(delta, full), cap, floor)
    dense = encoded_size(ms, codec=spec.codec)
    return Volumes(dense, full, min(delta, full), dense, dense)


class Planner:
    def __init__(self, settings: AfSettings, store: Store, metrics: Metrics, nef: NefClient | None) -> None:
        self.settings = settings
        self.store = store
        self.metrics = metrics
        self.nef = nef
        self.recent_step: tuple[float, float] | None = None
        """Median and variance of the seconds per step measured in the last iteration."""

    def observe_compute(self, per_step: list[float]) -> None:
        """The last iteration's measured seconds per step: UEs sharing hardware (or a network-wide load)
        slow down together, so no UE is expected faster than the last iteration's median."""
        if per_step:
            mean = sum(per_step) / len(per_step)
            self.recent_step = (_median(per_step), sum((x - mean) ** 2 for x in per_step) / len(per_step))

    async def candidates(self, incumbents: set[str]) -> list[Candidate]:
        """Registered UEs seen recently, with their compute and training statistics from Redis."""
        now = time.time()
        rows = await self.store.ues(await self.store.ue_ids())
        active = {
            g: r
            for g, r in rows.items()
            if now - float(r.get("last_seen", 0)) <= self.settings.ue_active_window_s
        }
        # A UE never measured here gets the median of those that were as its prior: what it registered
        # with is a benchmark run alone, not what it will take sharing its cores with the others.
        measured = [r for r in active.values() if "step_var_s2" in r]
        prior_step = _median([float(r["seconds_per_step"]) for r in measured])
        prior_step_var = _median([float(r["step_var_s2"]) for r in measured])
        prior_oh = _median([float(r["overhead_s"]) for r in active.values() if "overhead_s" in r])
        prior_var = _median([float(r["overhead_var_s2"]) for r in active.values() if "overhead_var_s2" in r])

        def step(r: dict[str, Any]) -> tuple[float, float]:
            if "step_var_s2" in r or not measured:
                mean, var = float(r.get("seconds_per_step", DEFAULT_STEP_S)), float(r.get("step_var_s2", 0.0))
            else:
                mean, var = max(prior_step, float(r.get("seconds_per_step", DEFAULT_STEP_S))), prior_step_var
            if self.recent_step is not None:
                mean, var = max(mean, self.recent_step[0]), max(var, self.recent_step[1])
            return mean, var

        return [
            Candidate(
                gpsi=g,
                num_samples=int(r.get("num_samples", 1)),
                seconds_per_step=step(r)[0],
                step_var_s2=step(r)[1],
                overhead_s=float(r.get("overhead_s", prior_oh)),
                overhead_var_s2=float(r.get("overhead_var_s2", prior_var)),
                on_time_rate=r.get("on_time_rate"),
                last_loss=r.get("last_loss"),
                times_selected=int(r.get("times_selected", 0)),
                incumbent=g in incumbents,
                energy=_energy_model(r.get("energy_profile")),
                energy_ratio=float(r.get("energy_ratio", 1.0)),
            )
            for g, r in active.items()
        ]

    async def enrich(self, cands: Sequence[Candidate], vol: Volumes, window_s: float) -> bool:
        """Fill in predictions and cells from the NEF; True when it could not be reached (degraded)."""
        if self.nef is None or not cands:
            return self.nef is None
        gpsis = [c.gpsi for c in cands]
        preds_call = self.nef.predict_transfer_times(
            gpsis, ul_bytes=vol.ul_bytes, dl_bytes=vol.dl_full, start_offset_s=0.0, duration_s=window_s
        )
        locs_call = self.nef.locations(gpsis)
        preds, locs = await asyncio.gather(preds_call, locs_call, return_exceptions=True)
        if isinstance(preds, BaseException):
            if not isinstance(preds, NefError):
                raise preds
            log.warning("NEF unavailable, selecting without network data: %s", preds)
            self.metrics.nef_degraded.set(1)
            return True
        self.metrics.nef_degraded.set(0)
        if isinstance(locs, BaseException):
            if not isinstance(locs, NefError):
                raise locs
            log.warning("NEF location reports unavailable: %s", locs)
            locs = {}
        fr2 = {t.lower() for t in self.settings.fr2_tacs}
        for c in cands:
            p = preds.get(c.gpsi)
            nef: dict[str, Any] = {}
            if p is not None:
                c.prediction = Prediction(
                    p.dl_mean_s,
                    p.dl_var_s2,
                    p.ul_mean_s,
                    p.ul_var_s2,
                    p.confidence,
                    vol.ul_bytes,
                    vol.dl_full,
                )
                nef["e2eDataVolTransTime"] = {
                    "api": "3gpp-analyticsexposure",
                    "ulBytes": vol.ul_bytes,
                    "dlBytes": vol.dl_full,
                    "avgTransTimeUlS": _num(p.ul_mean_s),
                    "varTransTimeUlS2": _num(p.ul_var_s2),
                    "avgTransTimeDlS": _num(p.dl_mean_s),
                    "varTransTimeDlS2": _num(p.dl_var_s2),
                    "confidence": p.confidence,
                    "windowS": window_s,
                }
            loc = locs.get(c.gpsi)
            if loc is not None:
                c.cell_id = loc.ncgi_cell_id
                c.band = loc.band or (("FR2" if loc.tac.lower() in fr2 else "FR1") if loc.tac else None)
                nef["location"] = {
                    "api": "3gpp-monitoring-event",
                    "event": "LOCATION_REPORTING",
                    "nrCellId": loc.ncgi_cell_id,
                    "tac": loc.tac,
                    "band": c.band,
                    "eventTime": loc.event_time,
                }
            c.nef = nef
        return False

    async def plan(
        self,
        job: JobState,
        model: GlobalModel,
        rng: random.Random,
        *,
        aggregation_s: float,
        incumbents: set[str],
        due: Sequence[str] = (),
        window_s: float = 5.0,
    ) -> RoundPlan:
        spec = job.spec
        vol = volumes(job, model)
        cands = await self.candidates(incumbents)
        degraded = await self.enrich(cands, vol, window_s)
        for c in cands:
            # a UE that holds the previous version downloads the delta, not the whole model
            if c.prediction is not None and c.incumbent and vol.dl_delta < vol.dl_full:
                c.prediction = c.prediction.with_bytes(dl_bytes=vol.dl_delta)
        policy = spec.selection
        if degraded and policy in INFORMED:
            policy = "random"  # documented fallback: without NEF data, sample and use the fallback deadline
        fixed = spec.deadline.seconds if spec.deadline.mode == "fixed" else None
        plan = Plan(
            k=spec.ues_per_round,
            steps=spec.local_steps,
            timeline=spec.timeline,
            deadline_s=fixed if spec.timeline == "sync" else None,
            aggregation_s=aggregation_s,
            p_target=spec.p_target,
            max_energy_j=spec.max_energy_j,
        )
        sel = select(policy, cands, plan, rng)
        by_id = {c.gpsi: c for c in cands}
        self._byte_budgets(sel, by_id, plan, vol, job)
        deadline = self._deadline(job, policy, plan, sel, by_id, due, fixed, aggregation_s)
        return RoundPlan(
            sel.choices,
            deadline,
            policy,
            degraded,
            sel.expected_on_time if not degraded else None,
            by_id,
            sel.over_energy_cap,
        )

    @staticmethod
    def _byte_budgets(
        sel: Selection, by_id: dict[str, Candidate], plan: Plan, vol: Volumes, job: JobState
    ) -> None:
        cells = Counter(by_id[ch.gpsi].cell_id for ch in sel.choices if by_id[ch.gpsi].cell_id)
        for ch in sel.choices:
            c = by_id[ch.gpsi]
            if job.spec.codec != "topk":
                continue  # a dense codec's body has one size: nothing to budget
            sharing = cells[c.cell_id] if c.cell_id else 1
            ch.byte_budget = byte_budget(c, plan, sharing=sharing, floor=vol.ul_floor, cap=vol.ul_cap)
            if ch.byte_budget is not None and c.prediction is not None:
                ch.predicted_ul_s = _num(
                    c.prediction.shared(sharing).with_bytes(ul_bytes=ch.byte_budget).ul_mean_s
                )

    def _deadline(
        self,
        job: JobState,
        policy: str,
        plan: Plan,
        sel: Selection,
        by_id: dict[str, Candidate],
        due: Sequence[str],
        fixed: float | None,
        aggregation_s: float,
    ) -> float:
        d = job.spec.deadline
        chosen = [by_id[ch.gpsi] for ch in sel.choices]
        if job.spec.timeline == "realtime":
            computes = [c.compute_s(plan.steps) for c in chosen]
            computes += [by_id[g].compute_s(plan.steps) for g in due if g in by_id]
            compute = max(computes, default=DEFAULT_STEP_S * plan.steps)
            # a collected update comes at worst one compute time and one upload budget after the opening
            deadline = (
                fixed if fixed is not None else compute * d.slack + derive_budget(compute, aggregation_s)
            )
        elif fixed is not None:
            deadline = fixed
        elif sel.deadline_s is not None and policy in INFORMED and chosen:
            deadline = sel.deadline_s * d.slack
        else:
            totals = [
                c.prediction.dl_mean_s + c.compute_s(plan.steps) + c.prediction.ul_mean_s
                for c in chosen
                if c.prediction is not None
            ]
            slowest = max(totals, default=math.inf)
            if not math.isfinite(slowest):
                compute = max((c.compute_s(plan.steps) for c in chosen), default=1.0)
                slowest = compute * 2 + 1.0  # no link data: compute time plus a fixed transfer allowance
            deadline = slowest * d.slack
        return min(max(deadline, d.min_seconds), d.max_seconds)


def _energy_model(raw: object) -> EnergyModel | None:
    """The device profile the UE registered (validated then), as the model to predict with."""
    if not isinstance(raw, dict):
        return None
    try:
        return EnergyProfile.model_validate(raw).model()
    except ValidationError:
        return None  # written by another version of the AF: as if the UE had declared none


def _median(xs: list[float]) -> float:
    return sorted(xs)[len(xs) // 2] if xs else 0.0


def _num(x: float) -> float | None:
    return round(x, 6) if math.isfinite(x) else None
