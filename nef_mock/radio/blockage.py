"""Two-state (clear/blocked) Markov blockage per UE, radio.md §1.6 and §8.3.

Exponential sojourn times: mean blocked ~0.5 s (Raghavan et al.: hundreds of ms), mean clear 5-10 s.
The transition probabilities are exact for any step, so coarse forecast steps keep the same means.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from .scenario import Blockage

F64 = NDArray[np.float64]
B = NDArray[np.bool_]


def transition_probabilities(params: Blockage, dt: float) -> tuple[float, float]:
    """(P(clear → blocked), P(blocked → clear)) within ``dt``."""
    return 1.0 - float(np.exp(-dt / params.mean_clear_s)), 1.0 - float(np.exp(-dt / params.mean_blocked_s))


def stationary_blocked(params: Blockage) -> float:
    return params.mean_blocked_s / (params.mean_blocked_s + params.mean_clear_s)


def step(blocked: B, u: F64, params: Blockage, dt: float) -> B:
    enter, leave = transition_probabilities(params, dt)
    out: B = np.where(blocked, u >= leave, u < enter)
    return out
