"""The vectorised physics: one row per UE (or per Monte-Carlo sample), one column per cell.

``advance`` moves UEs and evolves LOS, shadowing and blockage by one step; ``evaluate`` turns the
state into SNRs, a serving cell and the rate each UE would get alone in its cell.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np
from numpy.typing import NDArray

from . import blockage, mobility, rng, shadowing
from .cells import Band
from .pathloss import SHADOW_DCORR, SHADOW_SIGMA, PathLossTable
from .rates import OVERHEAD, link_rate_bps, max_data_rate_bps, n_prb
from .scenario import Scenario

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
I8 = NDArray[np.int8]
B = NDArray[np.bool_]
NO_CELL = -1
# Geometry (path loss, LOS state, shadowing, sector gain) is refreshed once a UE has moved this far:
# under 1 dB of path loss 10 m from a cell, under 0.1 dB beyond 100 m, and a tenth of the shadowing
# decorrelation distance, while a walker then costs one refresh per 12 steps instead of 12.
REFRESH_M = 1.0


def _noise_dbm(bandwidth_hz: float, nf_db: float) -> float:
    return -174.0 + 10.0 * float(np.log10(bandwidth_hz)) + nf_db


@dataclass
class Cells:
    """Per-cell constants derived once from the scenario."""

    pos: F64
    fr2: B
    azimuth: F64  # NaN = omni
    sigma_los: F64
    sigma_nlos: F64
    dcorr_los: F64
    dcorr_nlos: F64
    beamwidth: F64
    sector_max_loss: F64
    budget_ul: F64  # SNR = budget − path loss − shadowing − blockage − off-boresight loss
    budget_dl: F64
    blockage_db: F64
    occupied_hz: F64
    layers_ul: I64
    layers_dl: I64
    overhead_ul: F64
    overhead_dl: F64
    tdd_ul: F64
    tdd_dl: F64
    cap_ul: F64
    cap_dl: F64

    @classmethod
    def of(cls, sc: Scenario) -> Cells:
        v: dict[str, list[float]] = {
            f.name: [] for f in fields(cls) if f.name not in {"pos", "fr2", "azimuth"}
        }
        for cell in sc.cells:
            bp = sc.bands[cell.band]
            band: Band = cell.band
            sig = SHADOW_SIGMA[bp.environment]
            dco = SHADOW_DCORR[bp.environment]
            bw = n_prb(band, cell.bandwidth_mhz, cell.scs_khz) * 12 * cell.scs_khz * 1e3
            row = {
                "sigma_los": sig[0],
                "sigma_nlos": sig[1],
                "dcorr_los": dco[0],
                "dcorr_nlos": dco[1],
                "budget_ul": bp.ue_tx_dbm
                + bp.ue_gain_dbi
                + bp.bs_gain_dbi
                - _noise_dbm(bw, bp.bs_noise_figure_db),
                "budget_dl": bp.bs_tx_dbm
                + bp.bs_gain_dbi
                + bp.ue_gain_dbi
                - _noise_dbm(bw, bp.ue_noise_figure_db),
                "blockage_db": bp.blockage_loss_db,
                "beamwidth": bp.sector_beamwidth_deg,
                "sector_max_loss": bp.sector_max_loss_db,
                "occupied_hz": bw,
                "layers_ul": bp.ul.layers,
                "layers_dl": bp.dl.layers,
                "overhead_ul": OVERHEAD[band]["UL"],
                "overhead_dl": OVERHEAD[band]["DL"],
                "tdd_ul": bp.tdd_ul,
                "tdd_dl": bp.tdd_dl,
                "cap_ul": bp.tdd_ul
                * max_data_rate_bps(
                    band, cell.bandwidth_mhz, cell.scs_khz, bp.ul.layers, bp.ul.qam, "UL", bp.ul.scaling
                ),
                "cap_dl": bp.tdd_dl
                * max_data_rate_bps(
                    band, cell.bandwidth_mhz, cell.scs_khz, bp.dl.layers, bp.dl.qam, "DL", bp.dl.scaling
                ),
            }
            for k, x in row.items():
                v[k].append(float(x))
        floats = {k: np.asarray(x, dtype=np.float64) for k, x in v.items() if not k.startswith("layers")}
        return cls(
            pos=np.asarray([c.position for c in sc.cells], dtype=np.float64),
            fr2=np.asarray([c.band == "FR2" for c in sc.cells]),
            azimuth=np.asarray([np.nan if c.azimuth_deg is None else c.azimuth_deg for c in sc.cells]),
            layers_ul=np.asarray(v["layers_ul"], dtype=np.int64),
            layers_dl=np.asarray(v["layers_dl"], dtype=np.int64),
            **floats,
        )


@dataclass
class Overrides:
    """Fault injection per row: -1 = the model decides, else the forced 0/1; NaN rate = not forced."""

    blocked: I8
    connected: I8
    ul_bps: F64
    dl_bps: F64

    @classmethod
    def none(cls, n: int) -> Overrides:
        return cls(np.full(n, -1, np.int8), np.full(n, -1, np.int8), np.full(n, np.nan), np.full(n, np.nan))

    def take(self, idx: I64) -> Overrides:
        return Overrides(self.blocked[idx], self.connected[idx], self.ul_bps[idx], self.dl_bps[idx])

    def extended(self, more: Overrides) -> Overrides:
        return Overrides(
            np.concatenate([self.blocked, more.blocked]),
            np.concatenate([self.connected, more.connected]),
            np.concatenate([self.ul_bps, more.ul_bps]),
            np.concatenate([self.dl_bps, more.dl_bps]),
        )


@dataclass
class UeBatch:
    keys: rng.U64
    mob: mobility.MobilityState
    los_u: F64  # (N, C) the uniform behind each LOS state, re-drawn after los_redraw_m of movement
    los: B  # (N, C)
    z: F64  # (N, C) standard-normal shadowing state
    since_los: F64
    moved_acc: F64  # movement since the last geometry refresh, m
    stale: B  # geometry to refresh before the next evaluation
    base_loss: F64  # (N, C) path loss + shadowing + off-boresight loss at the last refresh, dB
    fr2_good: F64  # s for which FR2 has been good enough to return to, while on FR1
    fr2_bad: F64  # s for which FR2 has been below threshold, while on FR2
    blocked: B
    serving: I64
    handover: B
    sinr_ul: F64
    sinr_dl: F64
    rate_ul: F64  # alone in the serving cell, bit/s
    rate_dl: F64

    def __len__(self) -> int:
        return len(self.keys)

    def take(self, idx: I64) -> UeBatch:
        """A copy of rows ``idx`` (repeats allowed)."""
        mob = replace(self.mob, **{f.name: getattr(self.mob, f.name)[idx].copy() for f in fields(self.mob)})
        rest = {f.name: getattr(self, f.name)[idx].copy() for f in fields(self) if f.name != "mob"}
        return UeBatch(mob=mob, **rest)

    def put(self, idx: I64, sub: UeBatch) -> None:
        """Write ``sub`` back into rows ``idx``."""
        for f in fields(self.mob):
            getattr(self.mob, f.name)[idx] = getattr(sub.mob, f.name)
        for f in fields(self):
            if f.name != "mob":
                getattr(self, f.name)[idx] = getattr(sub, f.name)

    @staticmethod
    def concat(a: UeBatch, b: UeBatch) -> UeBatch:
        mob = mobility.MobilityState(
            **{
                f.name: np.concatenate([getattr(a.mob, f.name), getattr(b.mob, f.name)])
                for f in fields(a.mob)
            }
        )
        rest = {
            f.name: np.concatenate([getattr(a, f.name), getattr(b, f.name)])
            for f in fields(a)
            if f.name != "mob"
        }
        return UeBatch(mob=mob, **rest)


class Engine:
    """Scenario-derived constants and the step functions."""

    def __init__(self, scenario: Scenario) -> None:
        self.sc = scenario
        self.grid = mobility.Grid.of(scenario.area)
        self.cells = Cells.of(scenario)
        self.sectored = bool(np.isfinite(self.cells.azimuth).any())
        bands = [scenario.bands[c.band] for c in scenario.cells]
        self.pl = PathLossTable(
            [bp.environment for bp in bands],
            [bp.carrier_ghz for bp in bands],
            [bp.bs_height_m for bp in bands],
            scenario.mobility.ue_height_m,
        )

    def spawn(self, keys: rng.U64, cls: I8, fixed: F64) -> UeBatch:
        n, c = len(keys), len(self.cells.fr2)
        mob = mobility.spawn(self.grid, cls, keys, self.sc.mobility, fixed)
        u = rng.uniform(keys, 0, rng.BLOCKAGE, 1)[:, 0]
        zero = np.zeros(n)
        return UeBatch(
            keys=keys,
            mob=mob,
            los_u=rng.uniform(keys, 0, rng.LOS, c),
            los=np.zeros((n, c), dtype=bool),
            z=rng.normal(keys, 0, rng.SHADOW_A, c),
            since_los=zero.copy(),
            moved_acc=zero.copy(),
            stale=np.ones(n, dtype=bool),
            base_loss=np.zeros((n, c)),
            fr2_good=zero.copy(),
            fr2_bad=zero.copy(),
            blocked=u < blockage.stationary_blocked(self.sc.blockage),
            serving=np.full(n, NO_CELL, dtype=np.int64),
            handover=np.zeros(n, dtype=bool),
            sinr_ul=zero.copy(),
            sinr_dl=zero.copy(),
            rate_ul=zero.copy(),
            rate_dl=zero.copy(),
        )

    def advance(self, b: UeBatch, step: int, dt: float) -> None:
        """Move and evolve the random state by ``dt``; ``step`` numbers the draws."""
        if len(b) == 0:
            return
        moved = mobility.step(self.grid, b.mob, b.keys, step, dt, self.sc.mobility)
        b.since_los += moved
        b.moved_acc += moved
        redraw = np.flatnonzero(b.since_los >= self.sc.shadowing.los_redraw_m)
        if redraw.size:
            b.los_u[redraw] = rng.uniform(b.keys[redraw], step, rng.LOS, b.los_u.shape[1])
            b.since_los[redraw] = 0.0
            b.stale[redraw] = True
        # AR(1) over the distance since the last refresh equals the per-step recursion (ρ multiplies).
        walkers = np.flatnonzero(b.moved_acc >= REFRESH_M)
        if walkers.size:
            c = self.cells
            d_corr = np.where(b.los[walkers], c.dcorr_los, c.dcorr_nlos)
            n = rng.normal(b.keys[walkers], step, rng.SHADOW_A, b.z.shape[1])
            b.z[walkers] = shadowing.step(b.z[walkers], b.moved_acc[walkers, None], d_corr, n)
            b.moved_acc[walkers] = 0.0
            b.stale[walkers] = True
        u = rng.uniform(b.keys, step, rng.BLOCKAGE, 1)[:, 0]
        b.blocked = blockage.step(b.blocked, u, self.sc.blockage, dt)

    def snr(self, b: UeBatch, forced_blocked: I8) -> tuple[F64, F64]:
        """(UL, DL) SNR in dB for every row and cell; noise-limited, as beamformed FR2 allows."""
        c = self.cells
        rows = np.flatnonzero(b.stale)
        if rows.size:
            dx = b.mob.pos[rows, None, 0] - c.pos[None, :, 0]
            dy = b.mob.pos[rows, None, 1] - c.pos[None, :, 1]
            d2d = np.hypot(dx, dy)
            los = b.los_u[rows] < self.pl.p_los(d2d)
            sf = shadowing.shadow_db(b.z[rows], los, c.sigma_los, c.sigma_nlos)
            base = self.pl.path_loss(los, d2d) + sf
            if self.sectored:
                off = (np.degrees(np.arctan2(dx, dy)) - c.azimuth + 180.0) % 360.0 - 180.0
                sector = np.minimum(12.0 * (off / c.beamwidth) ** 2, c.sector_max_loss)
                base += np.where(np.isnan(c.azimuth), 0.0, sector)
            b.los[rows] = los
            b.base_loss[rows] = base
            b.stale[rows] = False
        blocked = np.where(forced_blocked >= 0, forced_blocked == 1, b.blocked)
        loss = b.base_loss + np.where(blocked[:, None], c.blockage_db, 0.0)
        return c.budget_ul - loss, c.budget_dl - loss

    def evaluate(self, b: UeBatch, ov: Overrides, *, dt: float = 0.0) -> None:
        """SNR, serving cell (max SNR, 3 dB hysteresis, FR1 when FR2 is below threshold) and rates."""
        n = len(b)
        if n == 0:
            return
        c, sel = self.cells, self.sc.selection
        snr_ul, snr_dl = self.snr(b, ov.blocked)
        metric = snr_dl if sel.metric == "DL" else snr_ul
        m2 = np.where(c.fr2[None, :], metric, -np.inf)
        m1 = np.where(~c.fr2[None, :], metric, -np.inf)
        prev = b.serving
        prev_fr2 = (prev >= 0) & c.fr2[np.maximum(prev, 0)]
        best2, best1 = m2.max(1), m1.max(1)
        fr2_ok = best2 >= sel.fr2_min_snr_db + np.where(prev_fr2, 0.0, sel.hysteresis_db)
        on_fr1 = (prev >= 0) & ~prev_fr2
        if dt > 0:
            b.fr2_good = np.where(on_fr1 & fr2_ok, b.fr2_good + dt, 0.0)
            b.fr2_bad = np.where(prev_fr2 & ~fr2_ok, b.fr2_bad + dt, 0.0)
        hanging_on = prev_fr2 & (b.fr2_bad < sel.fr2_drop_s - 1e-9)
        use2 = (fr2_ok & (~on_fr1 | (b.fr2_good >= sel.fr2_return_s - 1e-9))) | hanging_on
        use1 = ~use2 & (best1 >= sel.fr1_min_snr_db)
        force_on = (ov.connected == 1) & ~use2 & ~use1
        use1 |= force_on & np.isfinite(best1)
        use2 |= force_on & ~use1
        layer = np.where(use2[:, None], m2, m1)
        rows = np.arange(n)
        best = layer.argmax(1)
        prev_in_layer = (prev >= 0) & (prev_fr2 == use2)
        keep = prev_in_layer & (layer[rows, np.maximum(prev, 0)] >= layer[rows, best] - sel.hysteresis_db)
        serving = np.where(keep, prev, best)
        serving = np.where((use1 | use2) & (ov.connected != 0), serving, NO_CELL)
        if dt > 0:
            b.handover = (prev >= 0) & (serving >= 0) & (serving != prev)
        b.serving = serving
        s = np.where(serving >= 0, serving, metric.argmax(1))
        b.sinr_ul = snr_ul[rows, s]
        b.sinr_dl = snr_dl[rows, s]
        lk = self.sc.link
        common = {"alpha": lk.alpha, "sinr_min_db": lk.sinr_min_db}
        ul = link_rate_bps(
            b.sinr_ul,
            occupied_hz=c.occupied_hz[s],
            max_layers=c.layers_ul[s],
            se_max=lk.se_max_ul,
            overhead=c.overhead_ul[s],
            tdd_share=c.tdd_ul[s],
            cap_bps=c.cap_ul[s],
            **common,
        )
        dl = link_rate_bps(
            b.sinr_dl,
            occupied_hz=c.occupied_hz[s],
            max_layers=c.layers_dl[s],
            se_max=lk.se_max_dl,
            overhead=c.overhead_dl[s],
            tdd_share=c.tdd_dl[s],
            cap_bps=c.cap_dl[s],
            **common,
        )
        # A cell change interrupts the link for part of the step (radio.md §8.6).
        keep = max(0.0, 1.0 - sel.handover_interruption_s / max(dt, self.sc.step_s))
        keep_share = np.where(b.handover, keep, 1.0)
        on = serving >= 0
        b.rate_ul = np.where(on, ul * keep_share, 0.0)
        b.rate_dl = np.where(on, dl * keep_share, 0.0)
