"""TR 38.901 §7.4 path loss and LOS probability against values computed by hand."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from nef_mock.radio.pathloss import (
    breakpoint_distance,
    p_los,
    path_loss,
    uma_los,
    uma_nlos,
    umi_los,
    umi_nlos,
)


@pytest.mark.parametrize(
    ("d", "expected"),
    [
        # 18/50 + exp(−50/36)·(1 − 18/50) = 0.36 + 0.249352·0.64 = 0.519585
        (50.0, 0.519585),
        # 0.18 + exp(−2.777778)·0.82 = 0.18 + 0.062176·0.82 = 0.230985
        (100.0, 0.230985),
        # 0.09 + exp(−5.555556)·0.91 = 0.09 + 0.0038659·0.91 = 0.093518
        (200.0, 0.093518),
        (10.0, 1.0),  # within 18 m always LOS
    ],
)
def test_umi_los_probability(d: Any, expected: Any) -> None:
    assert float(p_los("UMi", d)) == pytest.approx(expected, abs=1e-5)


def test_uma_los_probability_for_pedestrians() -> None:
    # 18/100 + exp(−100/63)·0.82 = 0.18 + 0.204487·0.82 = 0.347679 (C'(1.5 m) = 0)
    assert float(p_los("UMa", 100.0)) == pytest.approx(0.347679, abs=1e-5)


def test_breakpoint_at_28_ghz() -> None:
    # 4 · (10 − 1) · (1.5 − 1) · 28e9 / 3e8
    assert breakpoint_distance(10.0, 1.5, 28.0) == pytest.approx(1680.0)


@pytest.mark.parametrize(
    ("d", "los", "nlos"),
    [
        # d3D = sqrt(d² + 8.5²); LOS = 32.4 + 21·log10(d3D) + 20·log10(28) (28.943160)
        # NLOS = 35.3·log10(d3D) + 22.4 + 21.3·log10(28) (30.824466)
        # 50 m: d3D = 50.7173, log10 = 1.705157 -> 97.1515 and 113.4166
        (50.0, 97.1515, 113.4166),
        # 100 m: d3D = 100.3606, log10 = 2.001563 -> 103.3760 and 123.8797
        (100.0, 103.3760, 123.8797),
        # 200 m: d3D = 200.1805, log10 = 2.301422 -> 109.6730 and 134.4647
        (200.0, 109.6730, 134.4647),
    ],
)
def test_umi_street_canyon_path_loss_at_28_ghz(d: Any, los: Any, nlos: Any) -> None:
    assert float(umi_los(d, 28.0)) == pytest.approx(los, abs=2e-3)
    assert float(umi_nlos(d, 28.0)) == pytest.approx(nlos, abs=2e-3)
    both = path_loss("UMi", np.array([True, False]), np.array([d, d]), 28.0, 10.0, 1.5)
    assert both == pytest.approx([los, nlos], abs=2e-3)


def test_nlos_is_never_below_los_and_loss_grows_with_distance() -> None:
    d = np.linspace(10, 2000, 400)
    for los, nlos in ((umi_los(d, 28.0), umi_nlos(d, 28.0)), (uma_los(d, 3.5), uma_nlos(d, 3.5))):
        assert np.all(nlos >= los)
        assert np.all(np.diff(los) > 0)
        assert np.all(np.diff(nlos) > 0)


def test_uma_beyond_the_breakpoint_uses_pl2() -> None:
    # 3.5 GHz, h_BS 25 m: d'_BP = 4·24·0.5·3.5e9/3e8 = 560 m; at 1000 m,
    # PL2 = 28 + 40·log10(d3D) + 20·log10(3.5) − 9·log10(560² + 23.5²) with d3D = 1000.276:
    # 28 + 120.0104 + 10.8814 − 49.4801 = 109.4117
    assert float(uma_los(1000.0, 3.5)) == pytest.approx(109.4117, abs=2e-3)


def test_the_vectorised_table_matches_the_reference_functions() -> None:
    from nef_mock.radio.pathloss import PathLossTable

    table = PathLossTable(["UMi", "UMa", "UMi"], [28.0, 3.5, 3.5], [10.0, 25.0, 10.0], 1.5)
    d = np.array([[5.0, 50.0, 300.0], [120.0, 800.0, 2000.0]])
    for los in (True, False):
        got = table.path_loss(np.full(d.shape, los), d)
        want = np.stack(
            [
                path_loss("UMi", los, d[:, 0], 28.0, 10.0, 1.5),
                path_loss("UMa", los, d[:, 1], 3.5, 25.0, 1.5),
                path_loss("UMi", los, d[:, 2], 3.5, 10.0, 1.5),
            ],
            axis=1,
        )
        assert got == pytest.approx(want, abs=1e-9)
    want_p = np.stack([p_los("UMi", d[:, 0]), p_los("UMa", d[:, 1]), p_los("UMi", d[:, 2])], axis=1)
    assert table.p_los(d) == pytest.approx(want_p, abs=1e-12)


def test_sector_antennas_lose_up_to_30_db_off_boresight() -> None:
    from nef_mock.radio.engine import Engine, Overrides

    from .conftest import scenario

    sc = scenario(
        cells=[
            {
                "cell_id": "000000101",
                "tac": "0002",
                "band": "FR2",
                "position": [200, 200],
                "bandwidth_mhz": 400,
                "scs_khz": 120,
                "azimuth_deg": 90,
            },
        ],
        bands={"FR2": {"carrier_ghz": 28}},
    )
    engine = Engine(sc)
    # east (boresight), north (90° off: 12·(90/65)² = 23.0 dB), west (behind: capped at 30 dB)
    fixed = np.array([[215.0, 200.0], [200.0, 215.0], [185.0, 200.0]])
    batch = engine.spawn(np.arange(3, dtype=np.uint64), np.zeros(3, np.int8), fixed)
    batch.z[:] = 0.0  # no shadowing: only the antenna differs
    batch.blocked[:] = False
    engine.evaluate(batch, Overrides.none(3))
    east, north, west = batch.sinr_ul
    assert east - north == pytest.approx(12.0 * (90 / 65) ** 2, abs=1e-6)
    assert east - west == pytest.approx(30.0, abs=1e-6)
