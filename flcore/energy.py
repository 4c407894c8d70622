"""A documented per-UE energy model: power per state times time in that state.

Training draws ``train_power_w`` (a handset NPU/GPU under load); the radio draws ``ul_power_w``
while transmitting and ``dl_power_w`` while receiving, ``idle_power_w`` otherwise. Figures are
typical of 5G handsets in the literature, not measured here; each is a UE setting.

Both sides use it: the UE to report what an iteration cost (``Fl5g-Energy-Joules``: training, download
and upload, idle left out), the AF to predict that same figure before choosing the UE, from the powers
the UE declared at registration (``flcore.protocol.EnergyProfile``), its compute time per step and the
NEF's predicted transfer times. A UE in poor coverage (an FR1 fallback, a crowded cell) keeps its radio
on longer for the same bytes, so it costs more.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EnergyModel:
    train_power_w: float
    ul_power_w: float
    dl_power_w: float
    idle_power_w: float = 0.0

    def iteration_joules(self, *, compute_s: float, ul_s: float, dl_s: float, wall_s: float = 0.0) -> float:
        busy = compute_s + ul_s + dl_s
        idle = max(0.0, wall_s - busy)
        return (
            self.train_power_w * compute_s
            + self.ul_power_w * ul_s
            + self.dl_power_w * dl_s
            + self.idle_power_w * idle
        )
