"""The names the radio model shares with its callers: bands, directions and cells."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Band = Literal["FR1", "FR2"]
Direction = Literal["UL", "DL"]
Mobility = Literal["static", "pedestrian", "vehicle"]
MOBILITY_CLASSES: tuple[Mobility, ...] = ("static", "pedestrian", "vehicle")


@dataclass(frozen=True)
class CellInfo:
    """One cell of the scenario; its radio parameters come from the band profile."""

    cell_id: str  # 9 hex digits, the nrCellId of TS 29.571 (36 bits)
    tac: str  # 4 hex digits
    band: Band
    position: tuple[float, float]
    bandwidth_mhz: float
    scs_khz: int
    azimuth_deg: float | None = None  # boresight of a sector antenna (compass, 0 = +y); None = omni
