"""TR 38.901 §7.4.1 path loss (UMi-Street Canyon, UMa) and Table 7.4.2-1 LOS probability.

Distances in m, carrier frequency in GHz, losses in dB; every function takes numpy arrays.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

F64 = NDArray[np.float64]
Environment = Literal["UMi", "UMa"]
C = 3.0e8
H_E = 1.0  # effective environment height; TR 38.901 gives 1 m for UEs below 13 m

# (σ_SF LOS, σ_SF NLOS) in dB and (d_corr LOS, d_corr NLOS) in m: §7.4.1, Table 7.5-6
SHADOW_SIGMA: dict[Environment, tuple[float, float]] = {"UMi": (4.0, 7.82), "UMa": (4.0, 6.0)}
SHADOW_DCORR: dict[Environment, tuple[float, float]] = {"UMi": (10.0, 13.0), "UMa": (37.0, 50.0)}


def distance_3d(d2d: ArrayLike, h_bs: float, h_ut: float) -> F64:
    return np.sqrt(np.square(np.asarray(d2d, dtype=np.float64)) + (h_bs - h_ut) ** 2)


def breakpoint_distance(h_bs: float, h_ut: float, fc_ghz: float) -> float:
    """d'_BP = 4 h'_BS h'_UT f_c / c."""
    return 4.0 * (h_bs - H_E) * (h_ut - H_E) * fc_ghz * 1e9 / C


def _clamp(d2d: ArrayLike) -> F64:
    # The formulas hold from 10 m; closer UEs get the 10 m value rather than a gain.
    return np.maximum(np.asarray(d2d, dtype=np.float64), 10.0)


def umi_los(d2d: ArrayLike, fc_ghz: float, h_bs: float = 10.0, h_ut: float = 1.5) -> F64:
    d = _clamp(d2d)
    d3 = distance_3d(d, h_bs, h_ut)
    dbp = breakpoint_distance(h_bs, h_ut, fc_ghz)
    pl1 = 32.4 + 21.0 * np.log10(d3) + 20.0 * np.log10(fc_ghz)
    pl2 = 32.4 + 40.0 * np.log10(d3) + 20.0 * np.log10(fc_ghz) - 9.5 * np.log10(dbp**2 + (h_bs - h_ut) ** 2)
    out: F64 = np.where(d <= dbp, pl1, pl2)
    return out


def umi_nlos(d2d: ArrayLike, fc_ghz: float, h_bs: float = 10.0, h_ut: float = 1.5) -> F64:
    d3 = distance_3d(_clamp(d2d), h_bs, h_ut)
    pl_nlos = 35.3 * np.log10(d3) + 22.4 + 21.3 * np.log10(fc_ghz) - 0.3 * (h_ut - 1.5)
    out: F64 = np.maximum(umi_los(d2d, fc_ghz, h_bs, h_ut), pl_nlos)
    return out


def uma_los(d2d: ArrayLike, fc_ghz: float, h_bs: float = 25.0, h_ut: float = 1.5) -> F64:
    d = _clamp(d2d)
    d3 = distance_3d(d, h_bs, h_ut)
    dbp = breakpoint_distance(h_bs, h_ut, fc_ghz)
    pl1 = 28.0 + 22.0 * np.log10(d3) + 20.0 * np.log10(fc_ghz)
    pl2 = 28.0 + 40.0 * np.log10(d3) + 20.0 * np.log10(fc_ghz) - 9.0 * np.log10(dbp**2 + (h_bs - h_ut) ** 2)
    out: F64 = np.where(d <= dbp, pl1, pl2)
    return out


def uma_nlos(d2d: ArrayLike, fc_ghz: float, h_bs: float = 25.0, h_ut: float = 1.5) -> F64:
    d3 = distance_3d(_clamp(d2d), h_bs, h_ut)
    pl_nlos = 13.54 + 39.08 * np.log10(d3) + 20.0 * np.log10(fc_ghz) - 0.6 * (h_ut - 1.5)
    out: F64 = np.maximum(uma_los(d2d, fc_ghz, h_bs, h_ut), pl_nlos)
    return out


def p_los(env: Environment, d2d: ArrayLike, h_ut: float = 1.5) -> F64:
    """Table 7.4.2-1 LOS probability for an outdoor UE."""
    d = np.maximum(np.asarray(d2d, dtype=np.float64), 1e-9)
    if env == "UMi":
        p = 18.0 / d + np.exp(-d / 36.0) * (1.0 - 18.0 / d)
    else:
        c_h = 0.0 if h_ut <= 13.0 else ((h_ut - 13.0) / 10.0) ** 1.5
        p = (18.0 / d + np.exp(-d / 63.0) * (1.0 - 18.0 / d)) * (
            1.0 + c_h * 1.25 * (d / 100.0) ** 3 * np.exp(-d / 150.0)
        )
    out: F64 = np.where(d <= 18.0, 1.0, p)
    return out


def path_loss(
    env: Environment, los: ArrayLike, d2d: ArrayLike, fc_ghz: float, h_bs: float, h_ut: float
) -> F64:
    """Path loss for the LOS state ``los`` (bool array broadcast against ``d2d``)."""
    if env == "UMi":
        out: F64 = np.where(los, umi_los(d2d, fc_ghz, h_bs, h_ut), umi_nlos(d2d, fc_ghz, h_bs, h_ut))
    else:
        out = np.where(los, uma_los(d2d, fc_ghz, h_bs, h_ut), uma_nlos(d2d, fc_ghz, h_bs, h_ut))
    return out


class PathLossTable:
    """Path loss and LOS probability for many cells at once, one coefficient vector per term.

    UMi and UMa share the same shape, so a scenario's cells evaluate in a handful of numpy calls
    instead of a few dozen per environment; ``tests`` check it against the functions above.
    """

    def __init__(self, envs: list[Environment], fc_ghz: list[float], h_bs: list[float], h_ut: float) -> None:
        umi = np.asarray([e == "UMi" for e in envs])
        fc = np.asarray(fc_ghz, dtype=np.float64)
        hb = np.asarray(h_bs, dtype=np.float64)
        dh2 = (hb - h_ut) ** 2
        dbp = 4.0 * (hb - H_E) * (h_ut - H_E) * fc * 1e9 / C
        self.dh2 = dh2
        self.dbp = dbp
        self.los1_a = np.where(umi, 32.4, 28.0) + 20.0 * np.log10(fc)
        self.los1_b = np.where(umi, 21.0, 22.0)
        self.los2_a = (
            np.where(umi, 32.4, 28.0) + 20.0 * np.log10(fc) - np.where(umi, 9.5, 9.0) * np.log10(dbp**2 + dh2)
        )
        self.nlos_a = np.where(
            umi,
            22.4 + 21.3 * np.log10(fc) - 0.3 * (h_ut - 1.5),
            13.54 + 20.0 * np.log10(fc) - 0.6 * (h_ut - 1.5),
        )
        self.nlos_b = np.where(umi, 35.3, 39.08)
        self.los_scale = np.where(umi, 36.0, 63.0)  # UMa's C'(h_UT) term is 0 below 13 m
        self.uma_tall = (~umi) & (h_ut > 13.0)
        self.h_ut = h_ut

    def p_los(self, d2d: F64) -> F64:
        d = np.maximum(d2d, 1e-9)
        near = 18.0 / d
        p = near + np.exp(-d / self.los_scale) * (1.0 - near)
        if self.uma_tall.any():
            c_h = ((self.h_ut - 13.0) / 10.0) ** 1.5
            p = np.where(self.uma_tall, p * (1.0 + c_h * 1.25 * (d / 100.0) ** 3 * np.exp(-d / 150.0)), p)
        out: F64 = np.where(d <= 18.0, 1.0, p)
        return out

    def path_loss(self, los: NDArray[np.bool_], d2d: F64) -> F64:
        d = np.maximum(d2d, 10.0)
        log_d3 = 0.5 * np.log10(d * d + self.dh2)
        pl_los = np.where(d <= self.dbp, self.los1_a + self.los1_b * log_d3, self.los2_a + 40.0 * log_d3)
        out: F64 = np.where(los, pl_los, np.maximum(pl_los, self.nlos_a + self.nlos_b * log_d3))
        return out
