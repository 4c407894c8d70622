"""What the RadioModel hands out: link states, cell loads, transfers, grants, and its input errors."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .cells import Band, Direction


class _Keep(enum.Enum):
    KEEP = "keep"


KEEP = _Keep.KEEP  # "leave this override as it is"; None clears it


class InvalidInput(ValueError):
    """Bad input to the model; ``field`` names what was wrong (for a 400 that names it)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class LinkState:
    gpsi: str
    connected: bool
    band: Band | None
    cell_id: str | None
    tac: str | None
    position: tuple[float, float]
    mobility: str
    speed_mps: float
    heading_deg: float
    blocked: bool
    ul_rate_bps: float
    dl_rate_bps: float
    sinr_ul_db: float
    sinr_dl_db: float
    model_time: float


@dataclass(frozen=True)
class CellLoad:
    cell_id: str
    band: Band
    active_ul: int  # active UL transfers of UEs served by the cell
    active_dl: int
    ues: int  # connected UEs served by the cell


@dataclass(frozen=True)
class TransferInfo:
    transfer_id: str
    gpsi: str
    direction: Direction
    nbytes: int
    started: float  # model time
    rate_bps: float
    cell_id: str | None


@dataclass(frozen=True)
class Grant:
    grant_id: str
    gpsi: str
    ul_bps: float
    dl_bps: float
