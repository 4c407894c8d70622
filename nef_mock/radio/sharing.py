"""How a cell's time is shared in one direction: granted GBR first, the rest equally (radio.md §3.3).

A grant reserves the share of the cell's time its UE needs for the GBR at its current link rate, in
grant order, whether or not the UE is sending. What is left is shared equally by the UEs with an
active transfer; a UE that is not sending is counted as one more, so its rate is what it would get
if it started a transfer now.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
B = NDArray[np.bool_]


@dataclass(frozen=True)
class Shares:
    rate: F64  # bit/s each row gets now
    free: F64  # per cell: share of time left after the grants
    active: I64  # per cell: UEs with an active transfer
    satisfied: tuple[bool, ...]  # per grant, in the order given


def share(
    serving: I64,
    link_rate: F64,
    sending: B,
    grants: Sequence[tuple[int, float]],
    n_cells: int,
) -> Shares:
    """``grants`` are (row, GBR bit/s) in grant order; rows without a cell get 0."""
    on = serving >= 0
    used = np.zeros(n_cells)
    reserved = np.zeros(len(serving))
    satisfied: list[bool] = []
    for row, gbr in grants:
        if gbr <= 0:
            satisfied.append(True)
            continue
        cell, rate = int(serving[row]), float(link_rate[row])
        if cell < 0 or rate <= 0:
            satisfied.append(False)
            continue
        need = gbr / rate
        fits = used[cell] + need <= 1.0 + 1e-12
        got = need if fits else max(0.0, 1.0 - used[cell])
        used[cell] += got
        reserved[row] += got
        satisfied.append(bool(fits))
    free = np.maximum(0.0, 1.0 - used)
    active = np.bincount(serving[on & sending], minlength=n_cells).astype(np.int64)
    at = np.maximum(serving, 0)
    denom = active[at] + np.where(sending, 0, 1)
    out: F64 = np.where(on, link_rate * np.minimum(1.0, reserved + free[at] / denom), 0.0)
    return Shares(rate=out, free=free, active=active, satisfied=tuple(satisfied))


def factors(free: F64, active: I64, serving: int, sending: bool) -> F64:
    """Per cell, the share of time one UE would get there with the load as it is now (for forecasts)."""
    extra = np.ones(len(free))
    if sending and serving >= 0:
        extra[serving] = 0.0
    out: F64 = free / (active + extra)
    return out
