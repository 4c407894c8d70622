"""Rate forecasts and statistics for one UE over a window, and what they say about transfer times."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .cells import Direction


@dataclass(frozen=True)
class RateForecast:
    """Rates of one UE over [start, end] (model time, s).

    ``predicted`` is True for a Monte-Carlo forecast (one sample = the window mean rate of one
    simulated future) and False for statistics of the past (one sample = one recorded step).
    """

    gpsi: str
    start: float
    end: float
    ul_mean_bps: float
    ul_p05_bps: float
    dl_mean_bps: float
    dl_p05_bps: float
    fr2_share: float
    connected_share: float
    samples: int
    predicted: bool
    ul_samples_bps: tuple[float, ...] = ()
    dl_samples_bps: tuple[float, ...] = ()

    def _rates(self, direction: Direction) -> np.ndarray:
        s = self.ul_samples_bps if direction == "UL" else self.dl_samples_bps
        if s:
            return np.asarray(s, dtype=np.float64)
        return np.asarray([self.ul_mean_bps if direction == "UL" else self.dl_mean_bps], dtype=np.float64)

    def _time(self, direction: Direction, nbytes: int) -> tuple[float, float]:
        if nbytes <= 0:
            return 0.0, 0.0
        r = self._rates(direction)
        r = r[r > 0]
        if r.size == 0:
            return math.inf, math.inf
        t = 8.0 * nbytes / r
        return float(t.mean()), float(t.var())

    def transfer_time(self, ul_bytes: int, dl_bytes: int) -> tuple[float, float, float, float]:
        """(UL mean s, UL variance s², DL mean s, DL variance s²) over the samples with a positive rate.

        Samples with no rate at all are left out here (inf when every sample has none);
        ``prob_within`` counts them as failures, so read the two together.
        """
        ul = self._time("UL", ul_bytes)
        dl = self._time("DL", dl_bytes)
        return ul[0], ul[1], dl[0], dl[1]

    def prob_within(self, direction: Direction, nbytes: int, seconds: float) -> float:
        """P(a transfer of ``nbytes`` finishes within ``seconds``), the share of samples fast enough."""
        if nbytes <= 0:
            return 1.0
        if seconds <= 0:
            return 0.0
        r = self._rates(direction)
        return float(np.mean(r * seconds >= 8.0 * nbytes))


def summarise(
    gpsi: str,
    start: float,
    end: float,
    ul: np.ndarray,
    dl: np.ndarray,
    fr2_share: float,
    connected_share: float,
    predicted: bool,
    keep: int = 512,
) -> RateForecast:
    """A RateForecast from sample arrays; more than ``keep`` samples become evenly spaced quantiles."""

    def kept(x: np.ndarray) -> tuple[float, ...]:
        if x.size <= keep:
            return tuple(float(v) for v in x)
        return tuple(float(v) for v in np.quantile(x, (np.arange(keep) + 0.5) / keep))

    return RateForecast(
        gpsi=gpsi,
        start=start,
        end=end,
        ul_mean_bps=float(ul.mean()),
        ul_p05_bps=float(np.percentile(ul, 5)),
        dl_mean_bps=float(dl.mean()),
        dl_p05_bps=float(np.percentile(dl, 5)),
        fr2_share=fr2_share,
        connected_share=connected_share,
        samples=int(ul.size),
        predicted=predicted,
        ul_samples_bps=kept(ul),
        dl_samples_bps=kept(dl),
    )
