"""TS 38.306 §4.1.2 peak rates and the truncated-Shannon link abstraction."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from nef_mock.radio.rates import link_rate_bps, max_data_rate_bps, n_prb, spectral_efficiency


@pytest.mark.parametrize(
    ("band", "bw", "scs", "layers", "qam", "direction", "gbps"),
    [
        # 2 · 8 · 948/1024 · (264 · 12 / 8.93 µs) · (1 − 0.18)
        ("FR2", 400, 120, 2, 256, "DL", 4.31),
        # 1 · 6 · 948/1024 · (264 · 12 / 8.93 µs) · (1 − 0.10)
        ("FR2", 400, 120, 1, 64, "UL", 1.77),
        # 4 · 8 · 948/1024 · (273 · 12 / 35.7 µs) · (1 − 0.14): the well-known 2.34 Gbps
        ("FR1", 100, 30, 4, 256, "DL", 2.34),
    ],
)
def test_max_data_rate_matches_the_reference_values(
    band: Any, bw: Any, scs: Any, layers: Any, qam: Any, direction: Any, gbps: Any
) -> None:
    assert round(max_data_rate_bps(band, bw, scs, layers, qam, direction) / 1e9, 2) == gbps


def test_scaling_factor_scales_linearly() -> None:
    full = max_data_rate_bps("FR2", 400, 120, 1, 64, "UL")
    assert max_data_rate_bps("FR2", 400, 120, 1, 64, "UL", 0.75) == pytest.approx(0.75 * full)


@pytest.mark.parametrize(
    ("band", "bw", "scs", "prb"),
    [
        ("FR1", 100, 30, 273),
        ("FR1", 20, 15, 106),
        ("FR1", 100, 60, 135),
        ("FR2", 400, 120, 264),
        ("FR2", 100, 120, 66),
        ("FR2", 200, 60, 264),
    ],
)
def test_prb_tables(band: Any, bw: Any, scs: Any, prb: Any) -> None:
    assert n_prb(band, bw, scs) == prb


@pytest.mark.parametrize(
    ("band", "bw", "scs"), [("FR1", 100, 15), ("FR2", 400, 60), ("FR2", 100, 30), ("FR1", 33, 30)]
)
def test_combinations_outside_the_tables_are_refused(band: Any, bw: Any, scs: Any) -> None:
    with pytest.raises(ValueError, match="choose one of"):
        n_prb(band, bw, scs)


def test_spectral_efficiency_is_truncated_shannon() -> None:
    se = spectral_efficiency(np.array([-20.0, -10.0, 0.0, 10.0, 60.0]), 0.6, -10.0, 5.5547)
    assert se[0] == 0.0  # below SINR_min
    assert se[1] == pytest.approx(0.6 * np.log2(1.1))
    assert se[2] == pytest.approx(0.6)  # α · log2(2)
    assert se[3] == pytest.approx(0.6 * np.log2(11.0))
    assert se[4] == 5.5547  # capped at the top CQI


def test_link_rate_uses_the_best_rank_and_the_cap() -> None:
    hz = 264 * 12 * 120e3
    kw = {
        "occupied_hz": hz,
        "alpha": 0.6,
        "sinr_min_db": -10.0,
        "se_max": 7.4063,
        "overhead": 0.18,
        "tdd_share": 0.75,
        "cap_bps": 1e12,
    }
    one = link_rate_bps(np.array([50.0, 0.0]), max_layers=1, **kw)
    two = link_rate_bps(np.array([50.0, 0.0]), max_layers=2, **kw)
    assert two[0] == pytest.approx(2 * one[0])  # high SINR: two layers, both at SE_max
    assert two[1] == pytest.approx(one[1])  # low SINR: splitting the power over 2 layers does not pay
    capped = link_rate_bps(np.array([40.0]), max_layers=2, **{**kw, "cap_bps": 1e9})
    assert capped[0] == 1e9
