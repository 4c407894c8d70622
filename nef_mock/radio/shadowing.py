"""Spatially correlated log-normal shadow fading: first-order Gudmundson AR(1) along each UE's path.

The state is a standard normal per (UE, cell); the σ of the current LOS state scales it, so a LOS flip
changes the spread but not the correlation (TR 38.901 Table 7.5-6, radio.md §1.4).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]


def step(z: F64, moved_m: F64, d_corr: F64, n: F64) -> F64:
    """s(x+Δ) = ρ·s(x) + sqrt(1 − ρ²)·n with ρ = exp(−Δ/d_corr); ``moved_m`` broadcasts over cells."""
    rho = np.exp(-moved_m / d_corr)
    out: F64 = rho * z + np.sqrt(1.0 - rho * rho) * n
    return out


def shadow_db(z: F64, los: NDArray[np.bool_], sigma_los: F64, sigma_nlos: F64) -> F64:
    out: F64 = z * np.where(los, sigma_los, sigma_nlos)
    return out
