"""Scenario files: cells, band profiles, UE population, mobility, blockage; validated with pydantic."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .cells import Band, CellInfo, Mobility
from .pathloss import Environment
from .rates import n_prb

_HEX9 = re.compile(r"^[0-9A-Fa-f]{9}$")
_HEX4 = re.compile(r"^[0-9A-Fa-f]{4}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Plmn(_Strict):
    mcc: str = Field(default="001", pattern=r"^\d{3}$")
    mnc: str = Field(default="01", pattern=r"^\d{2,3}$")


class Capability(_Strict):
    """A UE's capability in one direction on one band (TS 38.306 terms)."""

    layers: int = Field(default=1, ge=1, le=8)
    qam: Literal[64, 256, 1024] = 64
    scaling: float = 1.0


class BandProfile(_Strict):
    """Radio parameters of all cells of one band, and the UE side of the link budget (radio.md §2, §8)."""

    carrier_ghz: float = Field(gt=0.4, le=100.0)
    environment: Environment = "UMi"
    bs_height_m: float = 10.0
    bs_tx_dbm: float = 35.0
    bs_gain_dbi: float = 26.0
    bs_noise_figure_db: float = 7.0
    ue_tx_dbm: float = 23.0
    ue_gain_dbi: float = 8.0
    ue_noise_figure_db: float = 10.0
    blockage_loss_db: float = 30.0
    # TR 38.901 Table 7.3-1 element pattern, for cells with an azimuth
    sector_beamwidth_deg: float = 65.0
    sector_max_loss_db: float = 30.0
    tdd_ul: float = Field(default=0.2, ge=0.0, le=1.0)
    tdd_dl: float = Field(default=0.75, ge=0.0, le=1.0)
    ul: Capability = Capability(layers=1, qam=64)
    dl: Capability = Capability(layers=2, qam=256)


class LinkAbstraction(_Strict):
    """Truncated Shannon (TR 36.942 A.2, NR caps from TS 38.214 top CQI)."""

    alpha: float = 0.6
    sinr_min_db: float = -10.0
    se_max_ul: float = 5.5547
    se_max_dl: float = 7.4063


class Selection(_Strict):
    """Serving cell: max SNR (``metric``) with hysteresis; FR1 when FR2 is below ``fr2_min_snr_db``.

    A UE leaves FR2 only after its FR2 SNR has stayed below the threshold for ``fr2_drop_s``
    (radio link failure, T310-like), so a short blockage is a rate dip, not a switch; it comes back
    only after FR2 has been good (threshold + hysteresis) for ``fr2_return_s``: measurement,
    time-to-trigger and secondary-cell addition take seconds.
    """

    fr2_min_snr_db: float = -5.0
    fr1_min_snr_db: float = -10.0
    hysteresis_db: float = 3.0
    metric: Literal["UL", "DL"] = "UL"
    fr2_drop_s: float = Field(default=1.0, ge=0.0)
    fr2_return_s: float = Field(default=3.0, ge=0.0)
    handover_interruption_s: float = Field(default=0.05, ge=0.0)


class Blockage(_Strict):
    mean_blocked_s: float = Field(default=0.5, gt=0.0)
    mean_clear_s: float = Field(default=7.5, gt=0.0)


class Shadowing(_Strict):
    los_redraw_m: float = Field(default=50.0, gt=0.0)


class MobilityParams(_Strict):
    pedestrian_speed_mps: float = Field(default=3.0 / 3.6, gt=0.0)
    vehicle_speed_mps: float = Field(default=30.0 / 3.6, gt=0.0)
    pedestrian_pause_s: tuple[float, float] = (0.0, 20.0)
    vehicle_pause_s: tuple[float, float] = (0.0, 10.0)
    ue_height_m: float = 1.5


class Area(_Strict):
    """A Manhattan grid: streets every ``block_m`` in x and y, from the minimum to the maximum corner."""

    x_min: float = 0.0
    y_min: float = 0.0
    x_max: float = 800.0
    y_max: float = 600.0
    block_m: float = Field(default=100.0, gt=0.0)

    @model_validator(mode="after")
    def _non_empty(self) -> Area:
        if self.x_max - self.x_min < self.block_m or self.y_max - self.y_min < self.block_m:
            raise ValueError("area must span at least one block in x and y")
        return self


class UeSpec(_Strict):
    gpsi: str
    mobility: Mobility = "pedestrian"
    position: tuple[float, float] | None = None


class Population(_Strict):
    count: int = Field(default=60, ge=0, le=10_000)
    gpsi_format: str = "msisdn-9100000{i:05d}"
    mix: dict[Mobility, float] = {"static": 0.2, "pedestrian": 0.6, "vehicle": 0.2}
    ues: list[UeSpec] = []

    @field_validator("mix")
    @classmethod
    def _positive(cls, v: dict[Mobility, float]) -> dict[Mobility, float]:
        if any(x < 0 for x in v.values()) or sum(v.values()) <= 0:
            raise ValueError("mix needs non-negative shares with a positive sum")
        return v


class Scenario(_Strict):
    """A whole radio scenario; ``load_scenario`` reads one from YAML."""

    name: str = "scenario"
    seed: int = 0
    time_scale: float = Field(default=1.0, gt=0.0)
    step_s: float = Field(default=0.1, gt=0.0, le=1.0)
    history_s: float = Field(default=600.0, ge=0.0)
    plmn: Plmn = Plmn()
    area: Area = Area()
    bands: dict[Band, BandProfile]
    link: LinkAbstraction = LinkAbstraction()
    selection: Selection = Selection()
    blockage: Blockage = Blockage()
    shadowing: Shadowing = Shadowing()
    mobility: MobilityParams = MobilityParams()
    population: Population = Population()
    cells: list[CellInfo]

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        if not self.cells:
            raise ValueError("cells: at least one cell is needed")
        seen: set[str] = set()
        for i, cell in enumerate(self.cells):
            if not _HEX9.match(cell.cell_id):
                raise ValueError(f"cells[{i}].cell_id {cell.cell_id!r} is not 9 hex digits")
            if not _HEX4.match(cell.tac):
                raise ValueError(f"cells[{i}].tac {cell.tac!r} is not 4 hex digits")
            if cell.cell_id in seen:
                raise ValueError(f"cells[{i}].cell_id {cell.cell_id} appears twice")
            seen.add(cell.cell_id)
            if cell.band not in self.bands:
                raise ValueError(f"cells[{i}] is on {cell.band} but bands has no {cell.band} profile")
            n_prb(cell.band, cell.bandwidth_mhz, cell.scs_khz)
        return self


def load_scenario(path: str | Path | None = None) -> Scenario:
    """Read a scenario YAML file; ``None`` is the packaged default."""
    if path is None:
        text = resources.files(__package__).joinpath("scenarios/default.yaml").read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError(f"{path or 'default scenario'}: expected a mapping at the top level")
    return Scenario.model_validate(data)
