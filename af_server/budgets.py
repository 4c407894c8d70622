"""Time and byte budgets: the AF's own aggregation time, each UE's compute time, upload byte budgets.

- ``Ewma``: an exponentially weighted mean and variance; the AF keeps one of its aggregation time
  (from the iteration's close to the new version's publication) and, in Redis, one of each UE's
  seconds per training step (from the ``Fl5g-Compute-Seconds`` of its uploads).
- ``byte_budget``: what a UE may upload, predicted UL rate x its UL time budget, less a safety
  margin: ``floor(rate / sharing * ul_budget * (1 - margin) / 8)``, within [floor, cap] bytes. The rate
  is the NEF's (harmonic-mean) prediction and ``sharing`` the number of our UEs planned in its cell.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from af_server.selection import Candidate, Plan, ul_budget_s
from flcore.timeline import byte_budget as bytes_in

SAFETY_MARGIN = 0.25
"""Share of the UL budget kept back: rate changes within the window, HTTP and pacing overheads."""


@dataclass
class Ewma:
    """Exponentially weighted mean and variance (West's incremental form)."""

    alpha: float = 0.3
    mean: float | None = None
    var: float = 0.0

    def add(self, x: float) -> float:
        if not math.isfinite(x):
            return self.mean if self.mean is not None else 0.0
        if self.mean is None:
            self.mean = x
            return x
        diff = x - self.mean
        incr = self.alpha * diff
        self.mean += incr
        self.var = (1 - self.alpha) * (self.var + diff * incr)
        return self.mean

    def value(self, default: float = 0.0) -> float:
        return self.mean if self.mean is not None else default


def step_stats(mean: float | None, var: float, sample: float, alpha: float = 0.3) -> tuple[float, float]:
    """The next (mean, variance) of a UE's seconds per step after one measured iteration."""
    e = Ewma(alpha, mean, var)
    e.add(sample)
    return e.value(sample), e.var


def byte_budget(
    c: Candidate,
    plan: Plan,
    *,
    sharing: int = 1,
    floor: int = 0,
    cap: int | None = None,
    margin: float = SAFETY_MARGIN,
) -> int | None:
    """The UE's upload byte budget; None when the NEF gave no usable rate for it."""
    rate = c.prediction.ul_rate_bps if c.prediction is not None else None
    if rate is None:
        return None
    budget = bytes_in(rate / max(1, sharing) * (1.0 - margin), ul_budget_s(c, plan))
    budget = max(floor, budget)
    return budget if cap is None else min(cap, budget)
