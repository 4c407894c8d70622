"""Monte-Carlo futures of some UEs: clones of their state, each with its own random stream.

A forecast keeps today's cell load (active transfers, GBR reservations) fixed and lets mobility,
LOS, shadowing and blockage run; one sample is the mean rate of one simulated future over the window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .engine import Engine, Overrides, UeBatch

F64 = NDArray[np.float64]
MAX_STEPS = 120  # longer horizons use coarser steps; the blockage chain's step probabilities stay exact


@dataclass(frozen=True)
class Futures:
    """Per clone: window means of the UL and DL rates and the shares of points on FR2 and connected."""

    ul_bps: F64
    dl_bps: F64
    fr2_share: F64
    connected_share: F64


def simulate(
    engine: Engine,
    clones: UeBatch,
    ov: Overrides,
    share_ul: F64,
    share_dl: F64,
    start: float,
    duration: float,
    step_s: float,
) -> Futures:
    """Run ``clones`` (their own keys already set) over [start, start + duration] from now.

    ``share_ul`` / ``share_dl`` are (clones, cells): the share of a cell's time each clone would get
    there with the load as it is now.
    """
    end = start + duration
    dt = max(step_s, end / MAX_STEPS)
    first = math.ceil(start / dt - 1e-9)
    last = max(math.ceil(end / dt - 1e-9), first)
    n = len(clones)
    sum_ul, sum_dl, fr2, on = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
    lanes = np.arange(n)
    for j in range(last + 1):
        if j > 0:
            engine.advance(clones, j, dt)
            engine.evaluate(clones, ov, dt=dt)
        if j < first:
            continue
        cell = np.maximum(clones.serving, 0)
        conn = clones.serving >= 0
        ul = np.where(np.isnan(ov.ul_bps), clones.rate_ul * share_ul[lanes, cell], ov.ul_bps)
        dl = np.where(np.isnan(ov.dl_bps), clones.rate_dl * share_dl[lanes, cell], ov.dl_bps)
        sum_ul += np.where(conn, ul, 0.0)
        sum_dl += np.where(conn, dl, 0.0)
        fr2 += conn & engine.cells.fr2[cell]
        on += conn
    points = last - first + 1
    return Futures(sum_ul / points, sum_dl / points, fr2 / points, on / points)
