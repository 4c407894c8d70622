"""The RadioModel: per-UE 5G links (FR2 small cells over an FR1 macro layer) advanced lazily in model time.

Model time is ``(clock() − t0) · time_scale``. State advances in fixed steps (``scenario.step_s``,
100 ms) only when someone asks, and every random draw is a function of the seed, the GPSI and the
step, so a seed gives the same links whatever the query pattern. One lock guards everything.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from . import montecarlo, rng, sharing
from .cells import MOBILITY_CLASSES, Band, CellInfo, Direction, Mobility
from .engine import Engine, Overrides, UeBatch
from .forecast import RateForecast, summarise
from .history import FR1_CODE, FR2_CODE, NONE_CODE, History, HistoryRing
from .links import KEEP, CellLoad, Grant, InvalidInput, LinkState, TransferInfo, _Keep
from .scenario import Scenario

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
    "TransferInfo",
]

F64 = NDArray[np.float64]


@dataclass(frozen=True)
class _Transfer:
    gpsi: str
    direction: Direction
    nbytes: int
    started: float


class RadioModel:
    """The radio conditions of every attached UE; see the module docstring."""

    def __init__(self, scenario: Scenario, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.scenario = scenario
        self._clock = clock
        self._t0 = clock()
        self._dt = scenario.step_s
        self._engine = Engine(scenario)
        self._n_cells = len(scenario.cells)
        self._lock = threading.RLock()
        self._step = 0
        self._gpsis: list[str] = []
        self._index: dict[str, int] = {}
        self._batch = self._engine.spawn(np.zeros(0, np.uint64), np.zeros(0, np.int8), np.zeros((0, 2)))
        self._ov = Overrides.none(0)
        self._attached_at = np.zeros(0, np.int64)
        self._transfers: dict[str, _Transfer] = {}
        self._grants: dict[str, Grant] = {}
        self._ids = itertools.count(1)
        self._version = 0
        self._shares: tuple[sharing.Shares, sharing.Shares, F64, F64] | None = None
        self._history = HistoryRing(max(1, int(round(scenario.history_s / self._dt))))
        self._forecasts: OrderedDict[tuple[object, ...], RateForecast] = OrderedDict()
        self._explicit = {u.gpsi: u for u in scenario.population.ues}
        pop = scenario.population
        initial = [u.gpsi for u in pop.ues] + [pop.gpsi_format.format(i=i) for i in range(pop.count)]
        self._attach_many([(g, None, None) for g in dict.fromkeys(initial)])

    # --- time -------------------------------------------------------------------------------

    def now(self) -> float:
        """Model time, s."""
        return (self._clock() - self._t0) * self.scenario.time_scale

    def _advance(self) -> None:
        target = int(math.floor(self.now() / self._dt + 1e-9))
        while self._step < target:
            self._step += 1
            self._engine.advance(self._batch, self._step, self._dt)
            self._engine.evaluate(self._batch, self._ov, dt=self._dt)
            self._shares = None
            self._record()

    # --- UEs --------------------------------------------------------------------------------

    def attach(
        self, gpsi: str, mobility: str | None = None, position: tuple[float, float] | None = None
    ) -> LinkState:
        """Attach a UE (idempotent: a known GPSI keeps its state and ignores the arguments)."""
        with self._lock:
            self._advance()
            if gpsi not in self._index:
                self._attach_many([(gpsi, mobility, position)])
            return self._link(self._index[gpsi])

    def known(self, gpsi: str) -> bool:
        with self._lock:
            return gpsi in self._index

    def gpsis(self) -> list[str]:
        with self._lock:
            return list(self._gpsis)

    def link(self, gpsi: str) -> LinkState:
        """The UE's link now; KeyError if not attached."""
        with self._lock:
            self._advance()
            return self._link(self._index[gpsi])

    def links(self) -> list[LinkState]:
        with self._lock:
            self._advance()
            return [self._link(i) for i in range(len(self._gpsis))]

    def _attach_many(self, specs: Sequence[tuple[str, str | None, tuple[float, float] | None]]) -> None:
        area = self.scenario.area
        keys, classes, fixed = [], [], []
        for gpsi, mob, pos in specs:
            if not gpsi:
                raise InvalidInput("gpsi", "must not be empty")
            spec = self._explicit.get(gpsi)
            if mob is None and spec is not None:
                mob = spec.mobility
            if pos is None and spec is not None:
                pos = spec.position
            key = rng.ue_key(self.scenario.seed, gpsi)
            keys.append(key)
            classes.append(self._class_of(key) if mob is None else self._check_class(mob))
            if pos is None:
                fixed.append((math.nan, math.nan))
                continue
            x, y = float(pos[0]), float(pos[1])
            if not (area.x_min <= x <= area.x_max and area.y_min <= y <= area.y_max):
                raise InvalidInput(
                    "position",
                    f"({x:g}, {y:g}) is outside the scenario area "
                    f"[{area.x_min:g}, {area.x_max:g}] x [{area.y_min:g}, {area.y_max:g}]",
                )
            fixed.append((x, y))
        karr = np.asarray(keys, dtype=np.uint64)
        new = self._engine.spawn(
            karr, np.asarray(classes, np.int8), np.asarray(fixed, np.float64).reshape(-1, 2)
        )
        ov = Overrides.none(len(specs))
        self._engine.evaluate(new, ov)
        self._batch = UeBatch.concat(self._batch, new)
        self._ov = self._ov.extended(ov)
        start = len(self._gpsis)
        for j, (gpsi, _, _) in enumerate(specs):
            self._index[gpsi] = start + j
            self._gpsis.append(gpsi)
        self._attached_at = np.concatenate([self._attached_at, np.full(len(specs), self._step, np.int64)])
        self._history.grow(len(self._gpsis))
        self._shares = None
        self._version += 1
        self._record()

    def _class_of(self, key: int) -> int:
        mix = self.scenario.population.mix
        weights = np.asarray([mix.get(c, 0.0) for c in MOBILITY_CLASSES])
        u = float(rng.uniform(np.asarray([key], np.uint64), 0, rng.CLASS)[0, 0])
        return int(np.searchsorted(np.cumsum(weights) / weights.sum(), u, side="right"))

    @staticmethod
    def _check_class(mob: str) -> int:
        if mob not in MOBILITY_CLASSES:
            raise InvalidInput("mobility", f"{mob!r} is not one of {', '.join(MOBILITY_CLASSES)}")
        return MOBILITY_CLASSES.index(mob)

    def _link(self, i: int) -> LinkState:
        b = self._batch
        _, _, ul, dl = self._current_shares()
        s = int(b.serving[i])
        cell = self.scenario.cells[s] if s >= 0 else None
        forced = int(self._ov.blocked[i])
        mob: Mobility = MOBILITY_CLASSES[int(b.mob.cls[i])]
        return LinkState(
            gpsi=self._gpsis[i],
            connected=cell is not None,
            band=cell.band if cell else None,
            cell_id=cell.cell_id if cell else None,
            tac=cell.tac if cell else None,
            position=(float(b.mob.pos[i, 0]), float(b.mob.pos[i, 1])),
            mobility=mob,
            speed_mps=float(b.mob.speed_now[i]),
            heading_deg=float(b.mob.heading_deg[i]),
            blocked=bool(b.blocked[i]) if forced < 0 else forced == 1,
            ul_rate_bps=float(ul[i]),
            dl_rate_bps=float(dl[i]),
            sinr_ul_db=float(b.sinr_ul[i]),
            sinr_dl_db=float(b.sinr_dl[i]),
            model_time=round(self._step * self._dt, 9),
        )

    # --- sharing and history ----------------------------------------------------------------

    def _sending(self, direction: Direction) -> NDArray[np.bool_]:
        out = np.zeros(len(self._gpsis), dtype=bool)
        for t in self._transfers.values():
            if t.direction == direction:
                out[self._index[t.gpsi]] = True
        return out

    def _current_shares(self) -> tuple[sharing.Shares, sharing.Shares, F64, F64]:
        if self._shares is None:
            b = self._batch
            grants = list(self._grants.values())
            up = sharing.share(
                b.serving,
                b.rate_ul,
                self._sending("UL"),
                [(self._index[g.gpsi], g.ul_bps) for g in grants],
                self._n_cells,
            )
            down = sharing.share(
                b.serving,
                b.rate_dl,
                self._sending("DL"),
                [(self._index[g.gpsi], g.dl_bps) for g in grants],
                self._n_cells,
            )
            on = b.serving >= 0
            ul = np.where(on & ~np.isnan(self._ov.ul_bps), self._ov.ul_bps, up.rate)
            dl = np.where(on & ~np.isnan(self._ov.dl_bps), self._ov.dl_bps, down.rate)
            self._shares = (up, down, ul, dl)
        return self._shares

    def _record(self) -> None:
        n = len(self._gpsis)
        if n == 0:
            return
        _, _, ul, dl = self._current_shares()
        b = self._batch
        fr2 = self._engine.cells.fr2[np.maximum(b.serving, 0)]
        band = np.where(b.serving < 0, NONE_CODE, np.where(fr2, FR2_CODE, FR1_CODE))
        blocked = np.where(self._ov.blocked >= 0, self._ov.blocked == 1, b.blocked)
        self._history.record(self._step, ul, dl, band, blocked)

    def _window(self, i: int, start: float, end: float) -> NDArray[np.int64]:
        lo = max(
            math.ceil(start / self._dt - 1e-9),
            int(self._attached_at[i]),
            self._step - self._history.length + 1,
            0,
        )
        hi = min(math.floor(end / self._dt + 1e-9), self._step)
        return np.arange(lo, hi + 1, dtype=np.int64)

    def history(self, gpsi: str, start: float = 0.0, end: float = math.inf) -> History:
        """The recorded steps of a UE within [start, end] (the last ``history_s`` at most)."""
        with self._lock:
            self._advance()
            i = self._index[gpsi]
            return self._history.read(i, self._window(i, start, min(end, self._step * self._dt)), self._dt)

    def statistics(self, gpsi: str, start: float, end: float) -> RateForecast | None:
        """Statistics of the rates recorded in [start, end] (model time); None when none is recorded."""
        h = self.history(gpsi, start, end)
        if h.times.size == 0:
            return None
        return summarise(
            gpsi,
            start,
            end,
            h.ul_bps,
            h.dl_bps,
            fr2_share=float(np.mean(h.band == FR2_CODE)),
            connected_share=float(np.mean(h.band > 0)),
            predicted=False,
        )

    # --- forecasts --------------------------------------------------------------------------

    def forecast(
        self, gpsi: str, start_offset_s: float, duration_s: float, *, samples: int = 32
    ) -> RateForecast:
        """Monte-Carlo forecast over [now + start_offset, + duration] with today's cell load."""
        return self.forecast_many([gpsi], start_offset_s, duration_s, samples=samples)[gpsi]

    def forecast_many(
        self, gpsis: Sequence[str], start_offset_s: float, duration_s: float, *, samples: int = 32
    ) -> dict[str, RateForecast]:
        """``forecast`` for several UEs in one vectorised run (much cheaper than one call each)."""
        if not start_offset_s >= 0:
            raise InvalidInput("start_offset_s", "must be >= 0")
        if not duration_s >= 0:
            raise InvalidInput("duration_s", "must be >= 0")
        if not 1 <= samples <= 4096:
            raise InvalidInput("samples", "must be between 1 and 4096")
        with self._lock:
            self._advance()
            out: dict[str, RateForecast] = {}
            todo: list[str] = []
            for g in dict.fromkeys(gpsis):
                self._index[g]  # noqa: B018 (KeyError for an unknown GPSI before any work)
                hit = self._forecasts.get(self._fkey(g, start_offset_s, duration_s, samples))
                if hit is None:
                    todo.append(g)
                else:
                    out[g] = hit
            if todo:
                for g, f in self._simulate(todo, start_offset_s, duration_s, samples).items():
                    self._forecasts[self._fkey(g, start_offset_s, duration_s, samples)] = f
                    out[g] = f
                while len(self._forecasts) > 4096:
                    self._forecasts.popitem(last=False)
            return out

    def _fkey(self, gpsi: str, start: float, duration: float, samples: int) -> tuple[object, ...]:
        return (gpsi, self._step, self._version, round(start, 6), round(duration, 6), samples)

    def _simulate(
        self, gpsis: list[str], start: float, duration: float, samples: int
    ) -> dict[str, RateForecast]:
        rows = np.asarray([self._index[g] for g in gpsis], dtype=np.int64)
        idx = np.repeat(rows, samples)
        sub = self._batch.take(idx)
        sub.keys = rng.derive(self._batch.keys[rows], self._step, samples)
        ov = self._ov.take(idx)
        up, down, _, _ = self._current_shares()
        sending_ul, sending_dl = self._sending("UL"), self._sending("DL")
        per_ue = np.arange(len(rows)).repeat(samples)
        serving = [int(self._batch.serving[r]) for r in rows]
        fac_ul = np.stack(
            [
                sharing.factors(up.free, up.active, s, bool(sending_ul[r]))
                for r, s in zip(rows, serving, strict=True)
            ]
        )[per_ue]
        fac_dl = np.stack(
            [
                sharing.factors(down.free, down.active, s, bool(sending_dl[r]))
                for r, s in zip(rows, serving, strict=True)
            ]
        )[per_ue]
        fut = montecarlo.simulate(self._engine, sub, ov, fac_ul, fac_dl, start, duration, self._dt)
        t0 = self._step * self._dt
        result = {}
        for k, g in enumerate(gpsis):
            sl = slice(k * samples, (k + 1) * samples)
            result[g] = summarise(
                g,
                t0 + start,
                t0 + start + duration,
                fut.ul_bps[sl],
                fut.dl_bps[sl],
                fr2_share=float(fut.fr2_share[sl].mean()),
                connected_share=float(fut.connected_share[sl].mean()),
                predicted=True,
            )
        return result

    # --- transfers and GBR ------------------------------------------------------------------

    def begin_transfer(self, gpsi: str, direction: Direction, nbytes: int) -> str:
        """Start a transfer; it shares its UE's cell until ``end_transfer``. Returns the transfer id."""
        if direction not in ("UL", "DL"):
            raise InvalidInput("direction", f"{direction!r} is not UL or DL")
        if nbytes < 0:
            raise InvalidInput("bytes", "must be >= 0")
        with self._lock:
            self._advance()
            self._index[gpsi]  # noqa: B018 (KeyError for an unknown GPSI)
            tid = f"tr-{next(self._ids):08d}"
            self._transfers[tid] = _Transfer(gpsi, direction, int(nbytes), self._step * self._dt)
            self._changed()
            return tid

    def transfer_rate(self, transfer_id: str) -> float:
        """The transfer's rate now, bit/s; KeyError if unknown."""
        return self.transfer(transfer_id).rate_bps

    def transfer(self, transfer_id: str) -> TransferInfo:
        with self._lock:
            self._advance()
            t = self._transfers[transfer_id]
            i = self._index[t.gpsi]
            _, _, ul, dl = self._current_shares()
            same = sum(1 for o in self._transfers.values() if o.gpsi == t.gpsi and o.direction == t.direction)
            rate = float((ul if t.direction == "UL" else dl)[i]) / same
            s = int(self._batch.serving[i])
            return TransferInfo(
                transfer_id,
                t.gpsi,
                t.direction,
                t.nbytes,
                t.started,
                rate,
                self.scenario.cells[s].cell_id if s >= 0 else None,
            )

    def end_transfer(self, transfer_id: str) -> None:
        """End a transfer; KeyError if unknown."""
        with self._lock:
            self._advance()
            del self._transfers[transfer_id]
            self._changed()

    def grant_gbr(self, gpsi: str, ul_bps: float, dl_bps: float) -> str:
        """Reserve a GBR for the UE in its serving cell, served before equal sharing; returns the grant id."""
        if not ul_bps >= 0:
            raise InvalidInput("ul_bps", "must be >= 0")
        if not dl_bps >= 0:
            raise InvalidInput("dl_bps", "must be >= 0")
        with self._lock:
            self._advance()
            self._index[gpsi]  # noqa: B018 (KeyError for an unknown GPSI)
            gid = f"gbr-{next(self._ids):08d}"
            self._grants[gid] = Grant(gid, gpsi, float(ul_bps), float(dl_bps))
            self._changed()
            return gid

    def revoke_gbr(self, grant_id: str) -> None:
        """Release a grant; an unknown id is ignored, so revoking twice is harmless."""
        with self._lock:
            self._advance()
            if self._grants.pop(grant_id, None) is not None:
                self._changed()

    def gbr_satisfied(self, grant_id: str) -> bool:
        """Whether the cell can give the grant's GBR now; KeyError if unknown."""
        with self._lock:
            self._advance()
            g = self._grants[grant_id]
            if self._batch.serving[self._index[g.gpsi]] < 0:
                return False
            up, down, _, _ = self._current_shares()
            k = list(self._grants).index(grant_id)
            return up.satisfied[k] and down.satisfied[k]

    # --- fault injection and cells ----------------------------------------------------------

    def override(
        self,
        gpsi: str,
        *,
        connected: bool | None | _Keep = KEEP,
        blocked: bool | None | _Keep = KEEP,
        ul_rate_bps: float | None | _Keep = KEEP,
        dl_rate_bps: float | None | _Keep = KEEP,
    ) -> LinkState:
        """Force parts of a UE's link (None gives that part back to the model; KEEP leaves it)."""
        for name, rate in (("ul_rate_bps", ul_rate_bps), ("dl_rate_bps", dl_rate_bps)):
            if isinstance(rate, int | float) and not (rate >= 0 and math.isfinite(rate)):
                raise InvalidInput(name, "must be a finite rate >= 0")
        with self._lock:
            self._advance()
            i = self._index[gpsi]
            if connected is not KEEP:
                self._ov.connected[i] = -1 if connected is None else int(bool(connected))
            if blocked is not KEEP:
                self._ov.blocked[i] = -1 if blocked is None else int(bool(blocked))
            if ul_rate_bps is not KEEP:
                self._ov.ul_bps[i] = math.nan if ul_rate_bps is None else float(ul_rate_bps)
            if dl_rate_bps is not KEEP:
                self._ov.dl_bps[i] = math.nan if dl_rate_bps is None else float(dl_rate_bps)
            at = np.asarray([i], dtype=np.int64)
            row = self._batch.take(at)
            self._engine.evaluate(row, self._ov.take(at))
            self._batch.put(at, row)
            self._changed()
            return self._link(i)

    def cells(self) -> list[CellLoad]:
        with self._lock:
            self._advance()
            serving = self._batch.serving
            ues = np.bincount(serving[serving >= 0], minlength=self._n_cells)
            active: Counter[tuple[int, str]] = Counter()
            for t in self._transfers.values():
                s = int(serving[self._index[t.gpsi]])
                if s >= 0:
                    active[(s, t.direction)] += 1
            return [
                CellLoad(c.cell_id, c.band, active[(k, "UL")], active[(k, "DL")], int(ues[k]))
                for k, c in enumerate(self.scenario.cells)
            ]

    def _changed(self) -> None:
        self._shares = None
        self._version += 1
