"""The radio model behind the NEF mock: TR 38.901 propagation, blockage, mobility and TS 38.306 rates."""

from .cells import Band, CellInfo, Direction
from .forecast import RateForecast
from .model import KEEP, CellLoad, Grant, History, InvalidInput, LinkState, RadioModel, TransferInfo
from .rates import max_data_rate_bps
from .scenario import Scenario, load_scenario

__all__ = [
    "KEEP",
    "Band",
    "CellInfo",
    "CellLoad",
    "Direction",
    "Grant",
    "History",
    "InvalidInput",
    "LinkState",
    "RadioModel",
    "RateForecast",
    "Scenario",
    "TransferInfo",
    "load_scenario",
    "max_data_rate_bps",
]
