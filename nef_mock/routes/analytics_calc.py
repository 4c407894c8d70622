"""The analytics behind ``3gpp-analyticsexposure``, computed from the radio model.

Past windows give statistics (``RadioModel.statistics``), future ones predictions
(``RadioModel.forecast``); a window spanning now is refused with ``BOTH_STAT_PRED_NOT_ALLOWED``.
Transfer times go out in ms (``avgTransTimeUl`` is a Uinteger) and variances in ms².
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flcore.problem import ProblemError
from nef_mock.routes.common import (
    NefState,
    area_of_cell,
    iso,
    parse_bitrate,
    user_location,
)

if TYPE_CHECKING:
    from nef_mock.radio import LinkState, RateForecast

SUPPORTED = ("QOS_SUSTAINABILITY", "UE_MOBILITY", "E2E_DATA_VOL_TRANS_TIME")
MAX_MS = 2**31 - 1  # "never" within the window: a Uinteger cannot say infinity
MAX_SLOTS = 6
MAX_TS = 253402300798.0  # 9999-12-31T23:59:58Z: RFC 3339 has four-digit years
DIRECTIONS = ("NORTH", "NORTHEAST", "EAST", "SOUTHEAST", "SOUTH", "SOUTHWEST", "WEST", "NORTHWEST")


@dataclass(frozen=True)
class Window:
    """An analytics window in wall time (s) and whether it asks for predictions or statistics."""

    start: float
    end: float
    predicted: bool


class WindowSpansNow(Exception):
    """The window starts in the past and ends in the future."""


def resolve_window(state: NefState, start: datetime | None, end: datetime | None, pointer: str) -> Window:
    now = state.clock()
    t0 = min(start.timestamp() if start else now, MAX_TS)
    t1 = min(end.timestamp() if end else max(t0, now) + state.settings.default_window_s, MAX_TS + 1)
    if t1 <= t0:
        raise ProblemError(
            400, "endTs must be after startTs", invalid=[(f"{pointer}/endTs", "not after startTs")]
        )
    tol = state.settings.now_tolerance_s
    if t1 <= now:
        return Window(t0, t1, predicted=False)
    if t0 >= now - tol:
        return Window(max(t0, now), t1, predicted=True)
    raise WindowSpansNow()


def window_or_400(state: NefState, start: datetime | None, end: datetime | None, pointer: str) -> Window:
    try:
        return resolve_window(state, start, end, pointer)
    except WindowSpansNow:
        raise ProblemError(
            400,
            "the window starts in the past and ends in the future: statistics and predictions do not mix",
            cause="BOTH_STAT_PRED_NOT_ALLOWED",
            invalid=[(f"{pointer}/startTs", "in the past while endTs is in the future")],
        ) from None


def forecasts(state: NefState, gpsis: list[str], w: Window) -> dict[str, RateForecast]:
    """Each UE's rates over the window (UEs without recorded history are left out of statistics)."""
    if not gpsis:
        return {}
    if w.predicted:
        # Simulating far ahead costs CPU in proportion and says nothing more than the first minutes
        # do (the model is stationary beyond them), so offset and length are capped at the horizon.
        scale, horizon = state.timebase.scale, state.settings.forecast_horizon_s
        offset = min(horizon, max(0.0, (w.start - state.clock()) * scale))
        return state.radio.forecast_many(gpsis, offset, min(horizon, (w.end - w.start) * scale))
    start, end = state.timebase.model(w.start), state.timebase.model(w.end)
    return {g: fc for g in gpsis if (fc := state.radio.statistics(g, start, end)) is not None}


def _ms(seconds: float) -> int:
    if not math.isfinite(seconds):
        return MAX_MS
    return min(MAX_MS, max(0, round(seconds * 1000)))


def _ms2(var_s2: float) -> float:
    var = var_s2 * 1e6
    return float(var) if math.isfinite(var) and var < MAX_MS**2 else float(MAX_MS) ** 2


def confidence(fc: RateForecast) -> int:
    """Predictions are as sure as the UE is to stay connected; statistics are measurements."""
    return round(100 * fc.connected_share) if fc.predicted else 100


def e2e_infos(
    state: NefState, gpsis: list[str], w: Window, ul_bytes: int, dl_bytes: int, snssai: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """One ``E2eDataVolTransTimeInfo`` per UE (so each carries its own confidence)."""
    infos = []
    for gpsi, fc in forecasts(state, gpsis, w).items():
        ul_s, ul_var, dl_s, dl_var = fc.transfer_time(ul_bytes, dl_bytes)
        dvtt: dict[str, Any] = {}
        if ul_bytes:
            dvtt |= {"uplinkVolume": ul_bytes, "avgTransTimeUl": _ms(ul_s), "varTransTimeUl": _ms2(ul_var)}
        if dl_bytes:
            dvtt |= {"downlinkVolume": dl_bytes, "avgTransTimeDl": _ms(dl_s), "varTransTimeDl": _ms2(dl_var)}
        per_ue: dict[str, Any] = {"gpsi": gpsi, "dataVolTransTime": dvtt}
        per_ue["validityPeriod"] = {"startTime": iso(w.start), "stopTime": iso(w.end)}
        loc = user_location(state, state.radio.link(gpsi))
        # The schema wants exactly one of ueLoc / snssai.
        if loc is not None:
            per_ue["ueLoc"] = loc
        else:
            per_ue["snssai"] = snssai or {"sst": 1}
        ts = {
            "tsStart": iso(w.start),
            "tsDuration": round(w.end - w.start),
            "e2eDataVolTransTimePerUe": [per_ue],
        }
        infos.append({"e2eDataVolTransTimes": [ts], "confidence": confidence(fc)})
    return infos


def _slots(w: Window, gran_s: int | None) -> list[Window]:
    length = w.end - w.start
    n = min(MAX_SLOTS, max(1, math.ceil(length / gran_s))) if gran_s else 1
    step = length / n
    return [Window(w.start + i * step, w.start + (i + 1) * step, w.predicted) for i in range(n)]


def qos_sustainability(
    state: NefState, w: Window, cells: set[str] | None, thresholds: list[str], gran_s: int | None
) -> list[dict[str, Any]]:
    """Per cell and time slot: the RAN UE (uplink) throughput thresholds the cell's UEs fall below."""
    by_cell: dict[str, list[str]] = {}
    for link in state.radio.links():
        if link.cell_id and (cells is None or link.cell_id.lower() in cells):
            by_cell.setdefault(link.cell_id, []).append(link.gpsi)
    out = []
    everyone = sorted(g for gpsis in by_cell.values() for g in gpsis)
    for slot in _slots(w, gran_s):
        fcs = forecasts(state, everyone, slot)
        for cell_id, gpsis in sorted(by_cell.items()):
            rates = [fcs[g].ul_mean_bps for g in gpsis if g in fcs]
            if not rates:
                continue
            mean = sum(rates) / len(rates)
            for text in thresholds:
                thr = parse_bitrate(text)
                if mean < thr:
                    out.append(
                        {
                            "locArea": area_of_cell(state, cell_id),
                            "startTs": iso(slot.start),
                            "endTs": iso(slot.end),
                            "ranUeThrouThd": text,
                            "confidence": round(100 * sum(r < thr for r in rates) / len(rates)),
                        }
                    )
    return out


def _nearest(state: NefState, link: LinkState, band: str) -> str | None:
    x, y = link.position
    cells = [c for c in state.radio.scenario.cells if c.band == band]
    if not cells:
        return None
    return min(cells, key=lambda c: (c.position[0] - x) ** 2 + (c.position[1] - y) ** 2).cell_id


def ue_mobility(state: NefState, gpsis: list[str], w: Window) -> list[dict[str, Any]]:
    """Where each UE is expected (or was) during the window: its FR2 and FR1 cells with time ratios."""
    out = []
    for gpsi, fc in forecasts(state, gpsis, w).items():
        link = state.radio.link(gpsi)
        fr2 = link.cell_id if link.band == "FR2" else _nearest(state, link, "FR2")
        fr1 = link.cell_id if link.band == "FR1" else _nearest(state, link, "FR1")
        shares = [(fr2, fc.fr2_share), (fr1, max(0.0, fc.connected_share - fc.fr2_share))]
        loc_infos = [
            {"loc": area_of_cell(state, cell), "ratio": min(100, round(100 * share))}
            for cell, share in shares
            if cell is not None and round(100 * share) >= 1
        ]
        if not loc_infos:
            cell = link.cell_id or fr1 or fr2
            if cell is None:
                continue
            loc_infos = [{"loc": area_of_cell(state, cell)}]
        mob: dict[str, Any] = {"ts": iso(w.start), "duration": round(w.end - w.start), "locInfo": loc_infos}
        if link.speed_mps > 0:
            heading = DIRECTIONS[round((link.heading_deg % 360) / 45) % 8]
            mob["directionInfos"] = [{"gpsi": gpsi, "direction": heading, "avrSpeed": float(link.speed_mps)}]
        out.append(mob)
    return out


def digest(event: str, result: list[dict[str, Any]], levels: tuple[int | None, int | None]) -> Any:
    """What must change for an ON_EVENT_DETECTION report: crossings, cells, or transfer-time levels."""
    if event == "QOS_SUSTAINABILITY":
        return frozenset(
            (r["locArea"]["nwAreaInfo"]["ncgis"][0]["nrCellId"], r["ranUeThrouThd"]) for r in result
        )
    if event == "UE_MOBILITY":
        return tuple(
            (tuple(i["loc"]["nwAreaInfo"]["ncgis"][0]["nrCellId"] for i in m["locInfo"])) for m in result
        )
    high, low = levels
    out = []
    for info in result:
        ue = info["e2eDataVolTransTimes"][0]["e2eDataVolTransTimePerUe"][0]
        t = max(
            ue["dataVolTransTime"].get("avgTransTimeUl", 0), ue["dataVolTransTime"].get("avgTransTimeDl", 0)
        )
        if high is not None or low is not None:
            level = (
                "high"
                if high is not None and t > high
                else "low"
                if low is not None and t < low
                else "medium"
            )
        else:
            level = str(round(math.log2(max(t, 1))))
        out.append((ue["gpsi"], level))
    return tuple(out)


def to_ts(text: str) -> float:
    """An RFC 3339 string (as stored in a resource) -> POSIX seconds."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
