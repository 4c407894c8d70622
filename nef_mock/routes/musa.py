"""TS 29.522 §5.32 Member UE Selection Assistance API (``3gpp-musa``, Rel-18: member UEs for FL).

The AF names candidate UEs (``tgtUes``) and criteria; the NEF notifies an array of
``MemUeSeletAssistNotif`` with the UEs that meet all criteria (items of one filter list are
alternatives), right after creation and whenever that set changes. The API has no immediate report,
and a notification cannot carry an empty candidate list (``candiUes`` has minItems 1): while no UE
qualifies, nothing is sent. UEs unknown to the network never qualify.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, Request, Response
from fastapi.responses import JSONResponse

from flcore.problem import ProblemError
from nef_mock.models.musa import MemUeSelectAssistSubsc
from nef_mock.routes import analytics_calc as calc
from nef_mock.routes.common import (
    CREATED_RESPONSES,
    NefState,
    air_delay_ms,
    api_router,
    area_cells,
    check_gpsi,
    created,
    iso,
    nef,
    resource_url,
)
from nef_mock.store import Subscription

API = "3gpp-musa"
CRITERIA = {
    "qosFilters": "QOS",
    "accRatTypeFilters": "ACCESS_RAT_TYPE",
    "e2eTransTimeFilters": "E2E_DATA_VOLUME_TRANSFER_TIME",
    "ueLocFilters": "UE_LOCATION",
    "ueDirFilters": "UE_DIRECTION",
    "dnnFilters": "DNN",
    "ueHisLocFilters": "UE_HISTORICAL_LOCATION",
    "ueDistanceFilters": "UE_DISTANCE",
    "serviceExpFilters": "SERVICE_EXPERIENCE",
}
# Criteria this mock can judge from its radio model; the others are accepted and do not narrow.
EVALUATED = (
    "qosFilters",
    "accRatTypeFilters",
    "e2eTransTimeFilters",
    "ueLocFilters",
    "ueDirFilters",
    "dnnFilters",
)

# operationIds as in the 3GPP YAMLs where they have one (and unique within this document).
OPERATION_IDS = {
    "create_subscription": "CreateMemberUESelectionAssistanceSubcription",
    "list_subscriptions": "ReadAllMemberUESelectionAssistanceSubscriptions",
    "read_subscription": "ReadMemberUESelectionAssistanceSubscription",
    "replace_subscription": "UpdateMemberUESelectionAssistanceSubscription",
    "delete_subscription": "DeleteMemberUESelectionAssistanceSubscription",
}

router = api_router(API, OPERATION_IDS)


@dataclass
class _Selection:
    expires: float | None
    last_eval: float = float("-inf")
    last: tuple[str, ...] | None = None


def _direction(heading_deg: float) -> str:
    return calc.DIRECTIONS[round((heading_deg % 360) / 45) % 8]


def _e2e_pass(state: NefState, f: dict[str, Any], gpsis: list[str]) -> tuple[set[str], calc.Window | None]:
    win = f.get("timeWin")
    now = state.clock()
    start = calc.to_ts(win["startTime"]) if win else now
    end = calc.to_ts(win["stopTime"]) if win else now + state.settings.default_window_s
    if end <= now:
        return set(), None
    w = calc.Window(max(start, now), end, predicted=True)
    cells = area_cells(state, f.get("locationArea"))
    dvtt = f.get("dataVolTransTime") or {}
    ok = set()
    for gpsi, fc in calc.forecasts(state, gpsis, w).items():
        ul_s, _, dl_s, _ = fc.transfer_time(dvtt.get("uplinkVolume", 0), dvtt.get("downlinkVolume", 0))
        if "avgTransTimeUl" in dvtt and not ul_s * 1000 <= dvtt["avgTransTimeUl"]:
            continue
        if "avgTransTimeDl" in dvtt and not dl_s * 1000 <= dvtt["avgTransTimeDl"]:
            continue
        cell = state.radio.link(gpsi).cell_id
        if cells is not None and (cell is None or cell.lower() not in cells):
            continue
        ok.add(gpsi)
    return ok, w


def _match(state: NefState, key: str, f: dict[str, Any], gpsi: str) -> bool:
    link = state.radio.link(gpsi)
    if key == "dnnFilters":
        return True
    if not link.connected:
        return False
    if key == "accRatTypeFilters":
        return "NR" in f.get("ratTypes", ["NR"]) and "3GPP_ACCESS" in f.get("accTypes", ["3GPP_ACCESS"])
    if key == "qosFilters":
        delay = air_delay_ms(link)
        bounds = (f.get("ulDelay"), f.get("dlDelay"), f.get("rtDelay") and f["rtDelay"] / 2)
        return delay is not None and all(b is None or delay <= b for b in bounds)
    if key == "ueLocFilters":
        cells = area_cells(state, f.get("loc"))
        return cells is None or (link.cell_id is not None and link.cell_id.lower() in cells)
    if key == "ueDirFilters":
        return link.speed_mps > 0 and _direction(link.heading_deg) in f.get("directions", [])
    return True


def evaluate(state: NefState, resource: dict[str, Any]) -> dict[str, Any] | None:
    """The ``MemUeSeletAssistNotif`` for a subscription now, or None when no UE qualifies."""
    known = [g for g in dict.fromkeys(resource["tgtUes"]) if state.radio.known(g)]
    passing = set(known)
    reports = []
    window: calc.Window | None = None
    for key in EVALUATED:
        filters = resource.get(key)
        if not filters:
            continue
        ok: set[str] = set()
        for f in filters:
            if key == "e2eTransTimeFilters":
                hits, w = _e2e_pass(state, f, known)
                window = window or w
            else:
                hits = {g for g in known if _match(state, key, f, g)}
            ok |= hits
        reports.append({"criterionType": CRITERIA[key], "numForCriterion": len(ok)})
        passing &= ok
    if not passing:
        return None
    now = state.clock()
    window = window or calc.Window(now, now + state.settings.default_window_s, predicted=True)
    notif: dict[str, Any] = {
        "notifId": resource["notifId"],
        "candiUeInfos": [
            {
                "candiUes": [g for g in known if g in passing],
                "remdTimeWin": {"startTime": iso(window.start), "stopTime": iso(window.end)},
            }
        ],
    }
    if reports:
        notif["memUeSelectRpts"] = reports
    return notif


def _check(body: MemUeSelectAssistSubsc) -> dict[str, Any]:
    resource = body.to_json()
    if not any(resource.get(key) for key in CRITERIA):
        raise ProblemError(
            400,
            "at least one filter list is required",
            invalid=[(f"/{key}", "one of these is required") for key in CRITERIA],
        )
    for i, gpsi in enumerate(body.tgtUes):
        check_gpsi(gpsi, f"/tgtUes/{i}")
    return resource


def _run(state: NefState, sub: Subscription) -> list[dict[str, Any]] | None:
    """Re-evaluate; the notification body when the candidates changed (and are not none)."""
    sel: _Selection = sub.state
    sel.last_eval = state.clock()
    notif = evaluate(state, sub.resource)
    candidates = tuple(notif["candiUeInfos"][0]["candiUes"]) if notif else ()
    changed = candidates != sel.last
    sel.last = candidates
    return [notif] if notif is not None and changed else None


def _send(state: NefState, sub: Subscription, body: list[dict[str, Any]] | None) -> None:
    if body is not None:
        state.notifier.send(API, sub.resource["notifUri"], body)


@router.post(
    "/{afId}/subscriptions",
    status_code=201,
    response_model=MemUeSelectAssistSubsc,
    responses=CREATED_RESPONSES,
)
async def create_subscription(
    afId: str, body: MemUeSelectAssistSubsc, request: Request, state: NefState = Depends(nef)
) -> JSONResponse:
    """Ask which of ``tgtUes`` meet the criteria; the answer comes as notifications to ``notifUri``."""
    resource = _check(body)
    sub_id = state.store.new_id()
    url = resource_url(state, request, API, afId, sub_id)
    expires = body.expTime.timestamp() if body.expTime else None
    sub = state.store.add(Subscription(API, afId, sub_id, url, resource, state.clock(), _Selection(expires)))
    _send(state, sub, await asyncio.to_thread(_run, state, sub))
    return created(resource, url)


@router.get("/{afId}/subscriptions", response_model=list[MemUeSelectAssistSubsc])
async def list_subscriptions(afId: str, state: NefState = Depends(nef)) -> JSONResponse:
    """All active subscriptions of this AF."""
    return JSONResponse([s.resource for s in state.store.list(API, afId)])


@router.get("/{afId}/subscriptions/{subscriptionId}", response_model=MemUeSelectAssistSubsc)
async def read_subscription(afId: str, subscriptionId: str, state: NefState = Depends(nef)) -> JSONResponse:
    """One subscription."""
    return JSONResponse(state.store.get(API, afId, subscriptionId).resource)


@router.put("/{afId}/subscriptions/{subscriptionId}", response_model=MemUeSelectAssistSubsc)
async def replace_subscription(
    afId: str, subscriptionId: str, body: MemUeSelectAssistSubsc, state: NefState = Depends(nef)
) -> JSONResponse:
    """Replace the candidates or criteria; the selection is re-evaluated and notified at once."""
    sub = state.store.get(API, afId, subscriptionId)
    sub.resource = _check(body)
    sub.state = _Selection(body.expTime.timestamp() if body.expTime else None)
    _send(state, sub, await asyncio.to_thread(_run, state, sub))
    return JSONResponse(sub.resource)


@router.delete("/{afId}/subscriptions/{subscriptionId}", status_code=204, response_class=Response)
async def delete_subscription(afId: str, subscriptionId: str, state: NefState = Depends(nef)) -> Response:
    """End a subscription."""
    state.store.remove(API, afId, subscriptionId)
    return Response(status_code=204)


def tick(state: NefState) -> None:
    """Re-evaluate selections every ``analytics_eval_interval_s``; notify when the candidates change."""
    now = state.clock()
    for sub in state.store.list(API):
        sel: _Selection = sub.state
        if sel.expires is not None and now >= sel.expires:
            state.store.discard(sub)
        elif now - sel.last_eval >= state.settings.analytics_eval_interval_s:
            _send(state, sub, _run(state, sub))
