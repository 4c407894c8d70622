"""Data rates: the TS 38.306 §4.1.2 peak rate and the truncated-Shannon link abstraction (TR 36.942 A.2)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .cells import Band, Direction

F64 = NDArray[np.float64]
R_MAX = 948 / 1024

# TS 38.101-1 Table 5.3.2-1 (FR1) and TS 38.101-2 Table 5.3.2-1 (FR2): N_RB by SCS (kHz) and bandwidth (MHz).
N_PRB: dict[Band, dict[int, dict[int, int]]] = {
    "FR1": {
        15: {5: 25, 10: 52, 15: 79, 20: 106, 25: 133, 30: 160, 35: 188, 40: 216, 45: 242, 50: 270},
        30: {
            5: 11,
            10: 24,
            15: 38,
            20: 51,
            25: 65,
            30: 78,
            35: 92,
            40: 106,
            45: 119,
            50: 133,
            60: 162,
            70: 189,
            80: 217,
            90: 245,
            100: 273,
        },
        60: {
            10: 11,
            15: 18,
            20: 24,
            25: 31,
            30: 38,
            35: 44,
            40: 51,
            45: 58,
            50: 65,
            60: 79,
            70: 93,
            80: 107,
            90: 121,
            100: 135,
        },
    },
    "FR2": {
        60: {50: 66, 100: 132, 200: 264},
        120: {50: 32, 100: 66, 200: 132, 400: 264},
    },
}

# TS 38.306 §4.1.2 overhead by band and direction.
OVERHEAD: dict[Band, dict[Direction, float]] = {
    "FR1": {"DL": 0.14, "UL": 0.08},
    "FR2": {"DL": 0.18, "UL": 0.10},
}
# Rank adaptation: a second (third, ...) layer only where each layer still sees this SINR. Without
# it, α·l·log2(1 + SINR/l) grows with l at any SINR and cell-edge UEs would use every layer.
RANK_MIN_SINR_DB = 10.0
QAM_ORDER = {4: 2, 16: 4, 64: 6, 256: 8, 1024: 10}
SCALING_FACTORS = (1.0, 0.8, 0.75, 0.4)


def n_prb(band: Band, bandwidth_mhz: float, scs_khz: int) -> int:
    """Maximum transmission bandwidth in PRBs; ValueError names what the tables lack."""
    by_scs = N_PRB[band].get(scs_khz)
    if by_scs is None:
        raise ValueError(f"{band} has no {scs_khz} kHz SCS; choose one of {sorted(N_PRB[band])}")
    bw = int(round(bandwidth_mhz))
    if bw != bandwidth_mhz or bw not in by_scs:
        raise ValueError(
            f"{band} at {scs_khz} kHz has no {bandwidth_mhz:g} MHz channel; choose one of {sorted(by_scs)}"
        )
    return by_scs[bw]


def numerology(scs_khz: int) -> int:
    mu = int(round(np.log2(scs_khz / 15)))
    if 15 * 2**mu != scs_khz:
        raise ValueError(f"{scs_khz} kHz is not 15·2^µ kHz")
    return mu


def symbol_duration_s(scs_khz: int) -> float:
    """T_s^µ = 10⁻³ / (14·2^µ), the average OFDM symbol duration with normal CP."""
    return 1e-3 / (14 * (1 << numerology(scs_khz)))


def modulation_order(qam: int) -> int:
    if qam not in QAM_ORDER:
        raise ValueError(f"{qam}QAM is not one of {sorted(QAM_ORDER)}")
    return QAM_ORDER[qam]


def max_data_rate_bps(
    band: Band,
    bandwidth_mhz: float,
    scs_khz: int,
    layers: int,
    qam: int,
    direction: Direction,
    scaling: float = 1.0,
) -> float:
    """TS 38.306 §4.1.2 approximate maximum data rate of one component carrier, in bit/s (no TDD split)."""
    if layers < 1:
        raise ValueError("layers must be at least 1")
    if scaling not in SCALING_FACTORS:
        raise ValueError(f"scaling factor must be one of {SCALING_FACTORS}")
    prb = n_prb(band, bandwidth_mhz, scs_khz)
    qm = modulation_order(qam)
    per_second = prb * 12 / symbol_duration_s(scs_khz)
    return float(layers * qm * scaling * R_MAX * per_second * (1 - OVERHEAD[band][direction]))


def spectral_efficiency(sinr_db: ArrayLike, alpha: float, sinr_min_db: float, se_max: float) -> F64:
    """Attenuated, truncated Shannon bound in bit/s/Hz: 0 below SINR_min, α·log2(1+SINR), at most SE_max."""
    s = np.asarray(sinr_db, dtype=np.float64)
    se = alpha * np.log2(1.0 + 10.0 ** (s / 10.0))
    out: F64 = np.where(s < sinr_min_db, 0.0, np.minimum(se, se_max))
    return out


def link_rate_bps(
    sinr_db: ArrayLike,
    *,
    occupied_hz: ArrayLike,
    max_layers: ArrayLike,
    alpha: float,
    sinr_min_db: float,
    se_max: float,
    overhead: ArrayLike,
    tdd_share: ArrayLike,
    cap_bps: ArrayLike,
) -> F64:
    """A UE's rate alone in its cell: rank by SINR (power split over layers), overhead, TDD share, cap.

    Every argument but the link abstraction broadcasts, so one call serves UEs in different cells.
    """
    s = np.asarray(sinr_db, dtype=np.float64)[..., None]
    layers_max = np.asarray(max_layers)[..., None]
    # One column per rank, so all ranks of all UEs take a handful of numpy calls.
    ranks = np.arange(1, int(layers_max.max(initial=1)) + 1)
    per_layer = s - 10.0 * np.log10(ranks)
    se = ranks * spectral_efficiency(per_layer, alpha, sinr_min_db, se_max)
    usable = (ranks <= layers_max) & ((ranks == 1) | (per_layer >= RANK_MIN_SINR_DB))
    best = np.where(usable, se, 0.0).max(axis=-1)
    hz = np.asarray(occupied_hz, dtype=np.float64)
    oh = np.asarray(overhead, dtype=np.float64)
    out: F64 = np.minimum(best * hz * (1.0 - oh) * np.asarray(tdd_share, dtype=np.float64), cap_bps)
    return out
