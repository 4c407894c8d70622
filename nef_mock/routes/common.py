"""What the northbound API modules share: the NEF's state, time mapping, identities and locations."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from flcore.problem import PROBLEM_RESPONSES, ProblemError
from nef_mock.auth import TokenService, require_api
from nef_mock.metrics import Metrics
from nef_mock.notifier import Notifier
from nef_mock.settings import NefSettings
from nef_mock.store import SubscriptionStore

if TYPE_CHECKING:
    from nef_mock.radio import CellInfo, LinkState, RadioModel

SUPI_PREFIXES = ("imsi-", "nai-", "gci-", "gli-", "supi-")


class Timebase:
    """Maps model time (s) to wall time: wall = start + model_time / time_scale."""

    def __init__(self, radio: RadioModel, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.scale = float(radio.scenario.time_scale)
        self._radio = radio
        self.start_wall = clock() - radio.now() / self.scale

    def wall(self, model_t: float) -> float:
        return self.start_wall + model_t / self.scale

    def model(self, wall_t: float) -> float:
        return (wall_t - self.start_wall) * self.scale

    def now_model(self) -> float:
        return self._radio.now()

    def now_dt(self) -> datetime:
        return to_dt(self.clock())


def to_dt(wall_t: float) -> datetime:
    return datetime.fromtimestamp(wall_t, tz=UTC)


def iso(wall_t: float) -> str:
    """RFC 3339 in UTC with millisecond precision, e.g. ``2025-01-01T12:00:00.250Z``."""
    return to_dt(wall_t).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class NefState:
    """Everything a request handler or a background watcher needs, built once by ``create_app``."""

    settings: NefSettings
    radio: RadioModel
    store: SubscriptionStore
    notifier: Notifier
    metrics: Metrics
    tokens: TokenService
    timebase: Timebase
    qos_catalogue: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def clock(self) -> Callable[[], float]:
        return self.timebase.clock


def nef(request: Request) -> NefState:
    state: NefState = request.app.state.nef
    return state


def check_gpsi(gpsi: str, pointer: str) -> str:
    """Refuse SUPIs at the northbound: the NEF exposes GPSIs / external ids only."""
    if gpsi.lower().startswith(SUPI_PREFIXES):
        raise ProblemError(
            400, "a SUPI is not accepted at the northbound API", invalid=[(pointer, "use a GPSI")]
        )
    return gpsi


def known_link(state: NefState, gpsi: str, pointer: str) -> LinkState:
    """The UE's link now, or 404 USER_NOT_FOUND naming the attribute that carried it."""
    check_gpsi(gpsi, pointer)
    try:
        return state.radio.link(gpsi)
    except KeyError:
        raise ProblemError(
            404,
            f"UE {gpsi} is not known to this network",
            cause="USER_NOT_FOUND",
            invalid=[(pointer, "unknown UE")],
        ) from None


def cells_by_id(state: NefState) -> dict[str, CellInfo]:
    return {c.cell_id.lower(): c for c in state.radio.scenario.cells}


def plmn_id(state: NefState) -> dict[str, str]:
    plmn = state.radio.scenario.plmn
    return {"mcc": plmn.mcc, "mnc": plmn.mnc}


def ncgi(state: NefState, cell_id: str) -> dict[str, Any]:
    return {"plmnId": plmn_id(state), "nrCellId": cell_id}


def tai(state: NefState, tac: str) -> dict[str, Any]:
    return {"plmnId": plmn_id(state), "tac": tac}


def user_location(state: NefState, link: LinkState) -> dict[str, Any] | None:
    """TS 29.571 ``UserLocation`` of a UE's serving NR cell, or None when it has none."""
    if not link.cell_id or not link.tac:
        return None
    return {"nrLocation": {"tai": tai(state, link.tac), "ncgi": ncgi(state, link.cell_id)}}


def area_of_cell(state: NefState, cell_id: str) -> dict[str, Any]:
    """``LocationArea5G`` naming one cell."""
    return {"nwAreaInfo": {"ncgis": [ncgi(state, cell_id)]}}


def area_cells(state: NefState, area: dict[str, Any] | None) -> set[str] | None:
    """The cells a ``LocationArea5G`` names (by NCGI or TAI); None when it names none we understand."""
    if not area:
        return None
    info = area.get("nwAreaInfo") or {}
    ids = {str(n.get("nrCellId", "")).lower() for n in info.get("ncgis") or []}
    tacs = {str(t.get("tac", "")).lower() for t in info.get("tais") or []}
    if not ids and not tacs:
        return None
    return {cid for cid, c in cells_by_id(state).items() if cid in ids or c.tac.lower() in tacs}


def resource_url(state: NefState, request: Request, api: str, owner: str, sub_id: str) -> str:
    """``{apiRoot}/<apiName>/v1/{afId}/subscriptions/{subscriptionId}``, the owner percent-encoded."""
    root = (state.settings.public_url or str(request.base_url)).rstrip("/")
    return f"{root}/{api}/v1/{quote(owner, safe='')}/subscriptions/{sub_id}"


def operation_id_by_name(operation_ids: dict[str, str]) -> Callable[[APIRoute], str]:
    """A ``generate_unique_id_function``: each route's operationId is the one named for its handler."""

    def operation_id(route: APIRoute) -> str:
        return operation_ids[route.name]

    return operation_id


def api_router(api: str, operation_ids: dict[str, str]) -> APIRouter:
    """The router of one 3GPP API at ``/<apiName>/v1``: callers need a token granting ``api``; operationIds
    as in the 3GPP YAMLs (by handler name); ProblemDetails responses for every error but 503."""
    return APIRouter(
        generate_unique_id_function=operation_id_by_name(operation_ids),
        prefix=f"/{api}/v1",
        tags=[api],
        dependencies=[Depends(require_api(api))],
        responses={k: v for k, v in PROBLEM_RESPONSES.items() if k != 503},
    )


# The documented 201 of a subscription's creation: the new resource, and its URL in ``Location``.
CREATED_RESPONSES: dict[int | str, dict[str, Any]] = {
    201: {"headers": {"Location": {"required": True, "schema": {"type": "string"}}}}
}


def created(resource: dict[str, Any], url: str) -> JSONResponse:
    return JSONResponse(resource, status_code=201, headers={"Location": url})


_RATE_UNITS = {"bps": 1.0, "Kbps": 1e3, "Mbps": 1e6, "Gbps": 1e9, "Tbps": 1e12}


def parse_bitrate(text: str) -> float:
    """TS 29.571 ``BitRate`` ("6.5 Gbps") -> bit/s."""
    value, _, unit = text.partition(" ")
    return float(value) * _RATE_UNITS[unit]


def format_bitrate(bps: float) -> str:
    """bit/s -> TS 29.571 ``BitRate`` with three decimals in the largest fitting unit."""
    bps = max(0.0, float(bps))
    for unit in ("Tbps", "Gbps", "Mbps", "Kbps"):
        if bps >= _RATE_UNITS[unit]:
            return f"{bps / _RATE_UNITS[unit]:.3f} {unit}"
    return f"{bps:.0f} bps"


def air_delay_ms(link: LinkState) -> int | None:
    """A one-way packet delay estimate (ms), None when not connected.

    The mock models rates, not queues, so this is a per-band constant: FR2 slots of 0.125 ms
    with HARQ and scheduling, against FR1 slots of 0.5 ms."""
    if not link.connected or link.band is None:
        return None
    return 2 if link.band == "FR2" else 5
