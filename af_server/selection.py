"""Which UEs train in an iteration, from what the NEF predicts about their links.

Each policy returns choices with the reason and the NEF data behind them, so every round record
says why a UE was picked. ``deadline`` is FedCS-style: the most UEs whose predicted download +
compute + upload fits the budget with probability >= p_target.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from af_server.schemas import UeChoice


@dataclass(frozen=True)
class Prediction:
    """Predicted transfer times of this iteration's bytes for one UE (NEF E2E_DATA_VOL_TRANS_TIME)."""

    dl_mean_s: float
    dl_var_s2: float
    ul_mean_s: float
    ul_var_s2: float
    confidence: float | None = None


@dataclass
class Candidate:
    gpsi: str
    num_samples: int
    seconds_per_step: float
    prediction: Prediction | None = None
    on_time_rate: float | None = None
    last_loss: float | None = None
    times_selected: int = 0
    nef: dict[str, object] = field(default_factory=dict)

    def compute_s(self, steps: int) -> float:
        return self.seconds_per_step * steps

    def total_s(self, steps: int) -> float:
        if self.prediction is None:
            return math.inf
        return self.prediction.dl_mean_s + self.compute_s(steps) + self.prediction.ul_mean_s

    def p_within(self, steps: int, seconds: float) -> float:
        """P(download + compute + upload <= seconds), transfer times taken as independent normals."""
        p = self.prediction
        if p is None:
            return 0.0
        mean = self.total_s(steps)
        var = max(p.dl_var_s2 + p.ul_var_s2, 1e-12)
        if not math.isfinite(mean):
            return 0.0
        return 0.5 * (1.0 + math.erf((seconds - mean) / math.sqrt(2.0 * var)))


def _choice(c: Candidate, reason: str, steps: int, deadline_s: float | None) -> UeChoice:
    p = c.prediction
    return UeChoice(
        gpsi=c.gpsi,
        reason=reason,
        predicted_dl_s=p.dl_mean_s if p else None,
        predicted_ul_s=p.ul_mean_s if p else None,
        p_on_time=round(c.p_within(steps, deadline_s), 4) if (p and deadline_s) else None,
        nef=c.nef,
    )


def select_random(cands: list[Candidate], k: int, rng: random.Random) -> list[UeChoice]:
    picked = rng.sample(cands, min(k, len(cands)))
    return [UeChoice(gpsi=c.gpsi, reason="random sample", nef=c.nef) for c in picked]


def select_deadline(
    cands: list[Candidate], k: int, *, steps: int, deadline_s: float | None, p_target: float = 0.95
) -> tuple[list[UeChoice], float]:
    """Fastest-first: UEs by predicted completion time; the deadline is fixed or derived from them.

    Returns the choices and the deadline used. With no deadline given, the round deadline becomes the
    k-th fastest UE's completion time (the caller adds slack).
    """
    known = sorted((c for c in cands if c.prediction is not None), key=lambda c: c.total_s(steps))
    if deadline_s is None:
        chosen = known[:k]
        derived = max((c.total_s(steps) for c in chosen), default=0.0)
        return [_choice(c, "among the fastest predicted by the NEF", steps, None) for c in chosen], derived
    fits = [c for c in known if c.p_within(steps, deadline_s) >= p_target]
    chosen = fits[:k]
    return [
        _choice(c, f"P(on time) >= {p_target:.2f} by NEF prediction", steps, deadline_s) for c in chosen
    ], deadline_s
