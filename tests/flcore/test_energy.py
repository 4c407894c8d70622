"""The per-UE energy model: power per state times time in that state."""

from __future__ import annotations

import pytest

from flcore.energy import EnergyModel

PHONE = EnergyModel(train_power_w=4.0, ul_power_w=2.5, dl_power_w=1.2, idle_power_w=0.05)


@pytest.mark.parametrize(
    ("compute_s", "ul_s", "dl_s", "wall_s", "joules"),
    [
        (1.0, 0.4, 0.2, 0.0, 4.0 + 1.0 + 0.24),  # no wall time given: no idle
        (1.0, 0.4, 0.2, 3.6, 4.0 + 1.0 + 0.24 + 0.05 * 2.0),  # 2 s of the 3.6 s idle
        (1.0, 0.4, 0.2, 1.0, 4.0 + 1.0 + 0.24),  # a wall time shorter than the busy time: no idle
        (0.0, 2.0, 0.0, 0.0, 5.0),  # the radio alone
    ],
)
def test_iteration_joules(compute_s: float, ul_s: float, dl_s: float, wall_s: float, joules: float) -> None:
    got = PHONE.iteration_joules(compute_s=compute_s, ul_s=ul_s, dl_s=dl_s, wall_s=wall_s)
    assert got == pytest.approx(joules)
