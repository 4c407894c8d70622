"""Random waypoint on a Manhattan street grid, vectorised over UEs.

UEs live on streets (x or y on the grid). A trip goes to a uniformly drawn point on a random street
along at most three axis-parallel legs, then the UE pauses. Speeds are fixed per class, so the model
has no random-waypoint speed decay; UEs start mid-trip or mid-pause to be near the stationary state.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from . import rng
from .scenario import Area, MobilityParams

F64 = NDArray[np.float64]
STATIC, PEDESTRIAN, VEHICLE = 0, 1, 2
PAUSED = 3  # leg index meaning "at the waypoint, pausing"


@dataclass
class Grid:
    xs: F64  # x of the vertical streets
    ys: F64  # y of the horizontal streets
    area: Area

    @classmethod
    def of(cls, area: Area) -> Grid:
        xs = np.arange(area.x_min, area.x_max + 1e-6, area.block_m)
        ys = np.arange(area.y_min, area.y_max + 1e-6, area.block_m)
        return cls(xs=xs, ys=ys, area=area)

    def street_points(self, u: F64) -> tuple[F64, NDArray[np.bool_]]:
        """Points uniform over all streets (3 uniforms per row), and whether each is on a horizontal one."""
        a = self.area
        len_h = len(self.ys) * (a.x_max - a.x_min)
        len_v = len(self.xs) * (a.y_max - a.y_min)
        horiz = u[:, 0] < len_h / (len_h + len_v)
        along_x = a.x_min + u[:, 2] * (a.x_max - a.x_min)
        along_y = a.y_min + u[:, 2] * (a.y_max - a.y_min)
        street_y = self.ys[np.minimum((u[:, 1] * len(self.ys)).astype(np.int64), len(self.ys) - 1)]
        street_x = self.xs[np.minimum((u[:, 1] * len(self.xs)).astype(np.int64), len(self.xs) - 1)]
        pts = np.where(horiz[:, None], np.stack([along_x, street_y], 1), np.stack([street_x, along_y], 1))
        return pts, horiz

    def nearest_x(self, x: F64) -> F64:
        out: F64 = self.xs[np.abs(self.xs[None, :] - x[:, None]).argmin(1)]
        return out

    def nearest_y(self, y: F64) -> F64:
        out: F64 = self.ys[np.abs(self.ys[None, :] - y[:, None]).argmin(1)]
        return out


@dataclass
class MobilityState:
    cls: NDArray[np.int8]
    speed: F64  # m/s while moving
    pos: F64  # (N, 2)
    horiz: NDArray[np.bool_]  # on a horizontal street (else vertical)
    legs: F64  # (N, 3, 2) leg end points of the current trip
    leg: NDArray[np.int8]  # current leg, PAUSED while pausing
    pause: F64  # pause left, s
    heading_deg: F64  # compass heading of the last move, 0 = +y (north), clockwise
    speed_now: F64  # speed over the last step, m/s


def class_speed(cls: NDArray[np.int8], p: MobilityParams) -> F64:
    out: F64 = np.select(
        [cls == PEDESTRIAN, cls == VEHICLE], [p.pedestrian_speed_mps, p.vehicle_speed_mps], 0.0
    )
    return out


def draw_pause(cls: NDArray[np.int8], u: F64, p: MobilityParams) -> F64:
    lo = np.where(cls == VEHICLE, p.vehicle_pause_s[0], p.pedestrian_pause_s[0])
    hi = np.where(cls == VEHICLE, p.vehicle_pause_s[1], p.pedestrian_pause_s[1])
    out: F64 = lo + u * (hi - lo)
    return out


def plan_trips(grid: Grid, st: MobilityState, idx: NDArray[np.int64], u: F64) -> None:
    """Give rows ``idx`` a new destination and its legs (``u``: 3 uniforms per row)."""
    if idx.size == 0:
        return
    p = st.pos[idx]
    ph = st.horiz[idx]
    q, qh = grid.street_points(u)
    # Corner streets: on the same orientation a trip crosses over at the grid line nearest the midpoint.
    mid_x = grid.nearest_x((p[:, 0] + q[:, 0]) / 2)
    mid_y = grid.nearest_y((p[:, 1] + q[:, 1]) / 2)
    a = np.empty_like(p)
    b = np.empty_like(p)
    hv = ph & ~qh
    vh = ~ph & qh
    hh = ph & qh
    vv = ~ph & ~qh
    a[hv] = np.stack([q[hv, 0], p[hv, 1]], 1)
    b[hv] = a[hv]
    a[vh] = np.stack([p[vh, 0], q[vh, 1]], 1)
    b[vh] = a[vh]
    a[hh] = np.stack([mid_x[hh], p[hh, 1]], 1)
    b[hh] = np.stack([mid_x[hh], q[hh, 1]], 1)
    a[vv] = np.stack([p[vv, 0], mid_y[vv]], 1)
    b[vv] = np.stack([q[vv, 0], mid_y[vv]], 1)
    st.legs[idx] = np.stack([a, b, q], 1)
    st.leg[idx] = 0
    st.horiz[idx] = qh  # the street the trip ends on; only read when planning the next trip


def spawn(
    grid: Grid,
    cls: NDArray[np.int8],
    keys: rng.U64,
    params: MobilityParams,
    fixed: F64,
) -> MobilityState:
    """Initial state for new UEs; rows of ``fixed`` that are not NaN are explicit positions."""
    n = len(cls)
    u = rng.uniform(keys, 0, rng.SPAWN, 8)
    pos, horiz = grid.street_points(u[:, 0:3])
    has_fixed = ~np.isnan(fixed[:, 0])
    pos[has_fixed] = fixed[has_fixed]
    # An explicit position need not be on a street; the first trip leaves along the nearer one.
    off_y = np.abs(pos[:, 1] - grid.nearest_y(pos[:, 1]))
    off_x = np.abs(pos[:, 0] - grid.nearest_x(pos[:, 0]))
    horiz = np.where(has_fixed, off_y <= off_x, horiz)
    st = MobilityState(
        cls=cls.astype(np.int8),
        speed=class_speed(cls, params),
        pos=pos,
        horiz=horiz,
        legs=np.repeat(pos[:, None, :], 3, axis=1),
        leg=np.full(n, PAUSED, dtype=np.int8),
        pause=np.zeros(n),
        heading_deg=u[:, 3] * 360.0,
        speed_now=np.zeros(n),
    )
    mobile = cls != STATIC
    # Start paused with the stationary share of pause time (mean Manhattan trip ≈ (W + H)/3), so
    # that no warm-up is needed; the trip then starts from the UE's current street.
    trip_m = ((grid.area.x_max - grid.area.x_min) + (grid.area.y_max - grid.area.y_min)) / 3.0
    mean_pause = np.where(cls == VEHICLE, sum(params.vehicle_pause_s) / 2, sum(params.pedestrian_pause_s) / 2)
    p_pause = mean_pause / (mean_pause + trip_m / np.maximum(st.speed, 1e-9))
    pausing = mobile & (u[:, 4] < p_pause)
    moving = np.flatnonzero(mobile & ~pausing)
    plan_trips(grid, st, moving, u[moving, 5:8])
    st.pause[pausing] = draw_pause(st.cls[pausing], u[pausing, 5], params)
    return st


def step(
    grid: Grid, st: MobilityState, keys: rng.U64, step_idx: int, dt: float, params: MobilityParams
) -> F64:
    """Advance by ``dt``; returns the distance each UE moved."""
    n = len(st.cls)
    start = st.pos.copy()
    budget = st.speed * dt
    budget[st.leg == PAUSED] = 0.0
    for _ in range(3):
        going = (st.leg < PAUSED) & (budget > 0)
        if not going.any():
            break
        rows = np.flatnonzero(going)
        target = st.legs[rows, st.leg[rows]]
        delta = target - st.pos[rows]
        dist = np.abs(delta).sum(1)  # legs are axis-parallel
        move = np.minimum(budget[rows], dist)
        with np.errstate(invalid="ignore", divide="ignore"):
            unit = np.where(dist[:, None] > 0, delta / dist[:, None], 0.0)
        st.pos[rows] += unit * move[:, None]
        budget[rows] -= move
        arrived = rows[move >= dist]
        st.pos[arrived] = st.legs[arrived, st.leg[arrived]]
        st.leg[arrived] += 1
    done = np.flatnonzero(st.leg == PAUSED)
    # Arrivals this step start a pause; pauses that run out start a new trip.
    new_pause = done[(st.pause[done] <= 0) & (start[done] != st.pos[done]).any(1)]
    if new_pause.size:
        u = rng.uniform(keys[new_pause], step_idx, rng.PAUSE, 1)[:, 0]
        st.pause[new_pause] = draw_pause(st.cls[new_pause], u, params)
    st.pause[done] -= dt
    restart = done[(st.pause[done] <= 0) & (st.cls[done] != STATIC)]
    if restart.size:
        plan_trips(grid, st, restart, rng.uniform(keys[restart], step_idx, rng.WAYPOINT, 3))
    moved_vec = st.pos - start
    moved: F64 = np.abs(moved_vec).sum(1)
    turning = moved > 0
    st.heading_deg[turning] = np.degrees(np.arctan2(moved_vec[turning, 0], moved_vec[turning, 1])) % 360.0
    st.speed_now = moved / dt if dt > 0 else np.zeros(n)
    return moved
