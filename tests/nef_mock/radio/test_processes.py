"""Mobility, blockage, shadowing and the counter-based random numbers, checked statistically."""

from __future__ import annotations

import numpy as np
import pytest

from nef_mock.radio import RadioModel, blockage, load_scenario, rng, shadowing
from nef_mock.radio.scenario import Blockage

from .conftest import FakeClock


def test_ue_keys_are_stable_across_processes() -> None:
    # Pinned: a change here would silently change every scenario's UEs.
    assert rng.ue_key(7, "msisdn-100000001") == rng.ue_key(7, "msisdn-100000001")
    assert rng.ue_key(7, "msisdn-100000001") != rng.ue_key(8, "msisdn-100000001")
    assert rng.ue_key(2024, "msisdn-910000000000") == 0x52B12210EEBF0C9F


def test_uniforms_and_normals_look_right() -> None:
    keys = np.arange(20_000, dtype=np.uint64)
    u = rng.uniform(keys, 3, rng.BLOCKAGE, 2)
    assert u.shape == (20_000, 2) and u.min() >= 0.0 and u.max() < 1.0
    assert u.mean() == pytest.approx(0.5, abs=0.01)
    assert np.corrcoef(u[:, 0], u[:, 1])[0, 1] == pytest.approx(0.0, abs=0.03)
    n = rng.normal(keys, 3, rng.SHADOW_A)
    assert n.mean() == pytest.approx(0.0, abs=0.03) and n.std() == pytest.approx(1.0, abs=0.03)
    assert not np.array_equal(rng.uniform(keys, 4, rng.BLOCKAGE), rng.uniform(keys, 3, rng.BLOCKAGE))


def test_blockage_chain_has_the_configured_means() -> None:
    params = Blockage(mean_blocked_s=0.5, mean_clear_s=7.5)
    keys = np.arange(2000, dtype=np.uint64)
    state = np.zeros(2000, dtype=bool)
    blocked_steps = entries = 0
    for step in range(1, 1501):
        new = blockage.step(state, rng.uniform(keys, step, rng.BLOCKAGE)[:, 0], params, 0.1)
        entries += int(np.count_nonzero(new & ~state))
        state = new
        blocked_steps += int(state.sum())
    share = blocked_steps / (2000 * 1500)
    assert share == pytest.approx(blockage.stationary_blocked(params), rel=0.1)  # 0.5 / 8 = 0.0625
    # exact step probabilities: a blocked spell lasts 1 / (1 − e^(−0.1/0.5)) = 5.52 steps on average
    assert blocked_steps / entries == pytest.approx(1 / (1 - np.exp(-0.2)), rel=0.1)


def test_shadowing_decorrelates_over_the_decorrelation_distance() -> None:
    g = np.random.default_rng(1)
    z0 = g.standard_normal(50_000)
    z = z0.copy()
    for _ in range(10):  # 10 steps of 1 m with d_corr 10 m: ρ = e^-1
        z = shadowing.step(z, np.ones(1), np.full(1, 10.0), g.standard_normal(50_000))
    assert np.corrcoef(z0, z)[0, 1] == pytest.approx(np.exp(-1.0), abs=0.02)
    assert z.std() == pytest.approx(1.0, abs=0.02)
    assert np.array_equal(shadowing.step(z0, np.zeros(1), np.full(1, 10.0), z), z0)  # no move, no change


def test_ues_walk_on_the_street_grid_at_their_class_speed() -> None:
    sc = load_scenario(None)
    clock = FakeClock()
    model = RadioModel(sc, clock=clock)
    start = {link.gpsi: link for link in model.links()}
    speeds: dict[str, set[float]] = {"static": set(), "pedestrian": set(), "vehicle": set()}
    grid_x = np.arange(sc.area.x_min, sc.area.x_max + 1, sc.area.block_m)
    grid_y = np.arange(sc.area.y_min, sc.area.y_max + 1, sc.area.block_m)
    for _ in range(60):
        clock.advance(1.0)
        for link in model.links():
            x, y = link.position
            assert sc.area.x_min <= x <= sc.area.x_max and sc.area.y_min <= y <= sc.area.y_max
            assert min(np.abs(grid_x - x).min(), np.abs(grid_y - y).min()) < 1e-6
            speeds[link.mobility].add(round(link.speed_mps, 3))
            if link.mobility == "static":
                assert link.position == start[link.gpsi].position
    assert speeds["static"] == {0.0}
    assert speeds["pedestrian"] <= {0.0, 0.833} and 0.833 in speeds["pedestrian"]
    # a vehicle turning a corner within a step covers less straight-line-free distance: still ≤ 30 km/h
    assert max(speeds["vehicle"]) == pytest.approx(8.333, abs=1e-3)
    assert all(s <= 8.334 for s in speeds["vehicle"])
