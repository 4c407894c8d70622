"""Small hand-placed scenarios and a fake clock, so radio tests are exact and need no sleeping."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from nef_mock.radio import RadioModel, Scenario


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def scenario(**changes: Any) -> Scenario:
    """One FR1 macro and one omni FR2 small cell at the origin of a 400 m x 400 m grid; no UEs.

    Blockage never starts by itself (mean clear time of 10⁹ s) so tests switch it by override.
    """
    data: dict[str, Any] = {
        "name": "test",
        "seed": 7,
        "area": {"x_min": 0, "y_min": 0, "x_max": 400, "y_max": 400, "block_m": 100},
        "bands": {
            "FR2": {"carrier_ghz": 28, "environment": "UMi", "bs_height_m": 10},
            "FR1": {
                "carrier_ghz": 3.5,
                "environment": "UMa",
                "bs_height_m": 25,
                "bs_tx_dbm": 46,
                "bs_gain_dbi": 24,
                "bs_noise_figure_db": 5,
                "ue_gain_dbi": 0,
                "ue_noise_figure_db": 9,
                "blockage_loss_db": 3,
                "dl": {"layers": 4, "qam": 256},
            },
        },
        "blockage": {"mean_blocked_s": 0.5, "mean_clear_s": 1e9},
        "population": {"count": 0},
        "cells": [
            {
                "cell_id": "000000010",
                "tac": "0001",
                "band": "FR1",
                "position": [200, -300],
                "bandwidth_mhz": 100,
                "scs_khz": 30,
            },
            {
                "cell_id": "000000101",
                "tac": "0002",
                "band": "FR2",
                "position": [0, 0],
                "bandwidth_mhz": 400,
                "scs_khz": 120,
            },
        ],
    }
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return Scenario.model_validate(data)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_model(clock: FakeClock) -> Callable[..., RadioModel]:
    def make(sc: Scenario | None = None, **changes: Any) -> RadioModel:
        return RadioModel(sc if sc is not None else scenario(**changes), clock=clock)

    return make
