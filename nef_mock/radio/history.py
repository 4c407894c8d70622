"""A bounded per-UE record of past steps (rates, band, blockage) for ``RadioModel.statistics``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]
NONE_CODE, FR1_CODE, FR2_CODE = 0, 1, 2
_BLOCKED = 4


@dataclass(frozen=True)
class History:
    """Recorded steps of one UE: times (model s), rates, band code (0 none, 1 FR1, 2 FR2), blockage."""

    times: F64
    ul_bps: F64
    dl_bps: F64
    band: NDArray[np.int8]
    blocked: NDArray[np.bool_]


class HistoryRing:
    """``length`` steps of every UE, one column per UE; step k lives in row k mod length."""

    def __init__(self, length: int) -> None:
        self.length = length
        self._ul = np.zeros((length, 0), np.float32)
        self._dl = np.zeros((length, 0), np.float32)
        self._flags = np.zeros((length, 0), np.int8)  # band code, plus 4 when blocked

    def grow(self, n: int) -> None:
        cap = self._ul.shape[1]
        if n <= cap:
            return
        new_cap = max(n, 2 * cap, 16)
        ul, dl = np.zeros((self.length, new_cap), np.float32), np.zeros((self.length, new_cap), np.float32)
        flags = np.zeros((self.length, new_cap), np.int8)
        ul[:, :cap], dl[:, :cap], flags[:, :cap] = self._ul, self._dl, self._flags
        self._ul, self._dl, self._flags = ul, dl, flags

    def record(
        self, step: int, ul: F64, dl: F64, band: NDArray[np.int64], blocked: NDArray[np.bool_]
    ) -> None:
        n, row = len(ul), step % self.length
        self._ul[row, :n] = ul
        self._dl[row, :n] = dl
        self._flags[row, :n] = band + _BLOCKED * blocked

    def read(self, col: int, steps: NDArray[np.int64], step_s: float) -> History:
        rows = steps % self.length
        flags = self._flags[rows, col]
        return History(
            times=steps.astype(np.float64) * step_s,
            ul_bps=self._ul[rows, col].astype(np.float64),
            dl_bps=self._dl[rows, col].astype(np.float64),
            band=(flags & 3).astype(np.int8),
            blocked=(flags & _BLOCKED) > 0,
        )
