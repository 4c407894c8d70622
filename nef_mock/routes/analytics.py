"""TS 29.522 AnalyticsExposure API (``3gpp-analyticsexposure``): fetch and subscriptions.

Events served: ``QOS_SUSTAINABILITY``, ``UE_MOBILITY`` and ``E2E_DATA_VOL_TRANS_TIME`` (see
``analytics_calc``). Subscriptions report PERIODIC, ONE_TIME or ON_EVENT_DETECTION (the default:
when crossings, cells or transfer-time levels change) as ``AnalyticsEventNotification``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fastapi import Depends, Request, Response
from fastapi.responses import JSONResponse

from flcore.problem import ProblemError
from nef_mock.models.analytics import (
    AnalyticsData,
    AnalyticsEventFilter,
    AnalyticsExposureSubsc,
    AnalyticsRequest,
    TargetUeId,
)
from nef_mock.routes import analytics_calc as calc
from nef_mock.routes.common import (
    CREATED_RESPONSES,
    NefState,
    api_router,
    area_cells,
    created,
    iso,
    known_link,
    nef,
    resource_url,
)
from nef_mock.store import Subscription

API = "3gpp-analyticsexposure"
# Result attribute per event: in AnalyticsData, and in AnalyticsEventNotif (where the spec spells it Ifs).
RESULT_KEYS = {
    "QOS_SUSTAINABILITY": ("qosSustainInfos", "qosSustainInfos"),
    "UE_MOBILITY": ("ueMobilityInfos", "ueMobilityInfos"),
    "E2E_DATA_VOL_TRANS_TIME": ("dataVlTrnsTmInfos", "dataVlTrnsTmIfs"),
}

# operationIds as in the 3GPP YAMLs where they have one (and unique within this document).
OPERATION_IDS = {
    "fetch": "FetchAnalyticsInfo",
    "create_subscription": "CreateNewSubscription",
    "list_subscriptions": "ReadAllSubscriptions",
    "read_subscription": "ReadAnSubscription",
    "replace_subscription": "FullyUpdateAnSubscription",
    "delete_subscription": "DeleteAnSubscription",
}

router = api_router(API, OPERATION_IDS)


@dataclass
class _Event:
    """One analytics question, checked once: what, for whom, where, when."""

    event: str
    pointer: str
    tgt: TargetUeId | None
    start: datetime | None
    end: datetime | None
    ul: int = 0
    dl: int = 0
    levels: tuple[int | None, int | None] = (None, None)
    snssai: dict[str, Any] | None = None
    thresholds: list[str] = field(default_factory=list)
    cells: set[str] | None = None
    gran: int | None = None


def _targets(state: NefState, tgt: TargetUeId | None, pointer: str) -> list[str]:
    if tgt is not None and tgt.gpsi:
        known_link(state, tgt.gpsi, f"{pointer}/tgtUe/gpsi")
        return [tgt.gpsi]
    if tgt is not None and tgt.exterGroupId:
        raise ProblemError(
            400, "UE groups are not supported", invalid=[(f"{pointer}/tgtUe/exterGroupId", "use gpsi")]
        )
    return sorted(link.gpsi for link in state.radio.links())


def _prepare(
    state: NefState,
    event: str,
    flt: AnalyticsEventFilter | None,
    tgt: TargetUeId | None,
    pointer: str,
    window: tuple[datetime | None, datetime | None],
) -> _Event:
    fp = f"{pointer}/analyEventFilter"
    if event not in calc.SUPPORTED:
        raise ProblemError(
            400,
            f"analyEvent {event} is not served by this NEF",
            cause="UNAVAILABLE_DATA",
            invalid=[(f"{pointer}/analyEvent", f"served: {', '.join(calc.SUPPORTED)}")],
        )
    ev = _Event(event, pointer, tgt, *window)
    if event != "QOS_SUSTAINABILITY":
        _targets(state, tgt, pointer)
    if event == "E2E_DATA_VOL_TRANS_TIME":
        reqs = (flt.dataVlTrnsTmRqs or flt.dataVlTrnsTmReqs) if flt else None
        volume = reqs[0].dataVolume if reqs else None
        if reqs is None or volume is None or not (volume.uplinkVolume or volume.downlinkVolume):
            raise ProblemError(
                400,
                "E2E_DATA_VOL_TRANS_TIME needs the data volume to transfer",
                invalid=[
                    (f"{fp}/dataVlTrnsTmRqs/0/dataVolume", "uplinkVolume and/or downlinkVolume required")
                ],
            )
        ev.ul, ev.dl = volume.uplinkVolume or 0, volume.downlinkVolume or 0
        ev.levels = (reqs[0].highTransTmThr, reqs[0].lowTransTmThr)
        ev.snssai = flt.snssai.to_json() if flt and flt.snssai else None
    if event == "QOS_SUSTAINABILITY":
        if flt is None or not flt.ranUeThrouThds:
            raise ProblemError(
                400,
                "QOS_SUSTAINABILITY needs RAN UE throughput thresholds",
                invalid=[(f"{fp}/ranUeThrouThds", "missing")],
            )
        ev.thresholds = list(flt.ranUeThrouThds)
        ev.cells = area_cells(state, flt.locArea.to_json() if flt.locArea else None)
        ev.gran = flt.temporalGranSize
    return ev


def _compute(state: NefState, ev: _Event, w: calc.Window) -> list[dict[str, Any]]:
    if ev.event == "QOS_SUSTAINABILITY":
        return calc.qos_sustainability(state, w, ev.cells, ev.thresholds, ev.gran)
    gpsis = _targets(state, ev.tgt, ev.pointer)
    if ev.event == "UE_MOBILITY":
        return calc.ue_mobility(state, gpsis, w)
    return calc.e2e_infos(state, gpsis, w, ev.ul, ev.dl, ev.snssai)


@router.post(
    "/{afId}/fetch",
    response_model=AnalyticsData,
    responses={204: {"description": "no analytics data for this request"}},
)
async def fetch(
    afId: str,  # noqa: ARG001 (path parameter, checked against the token by require_api)
    body: AnalyticsRequest,
    state: NefState = Depends(nef),
) -> Response:
    """Analytics now: statistics for a past window, predictions for a future one (``analyRep``)."""
    rep = body.analyRep
    window = (rep.startTs, rep.endTs) if rep else (None, None)
    ev = _prepare(state, body.analyEvent, body.analyEventFilter, body.tgtUe, "", window)
    w = calc.window_or_400(state, *window, "/analyRep")
    result = await asyncio.to_thread(_compute, state, ev, w)
    if not result:
        return Response(status_code=204)
    now = state.clock()
    data = {"start": iso(w.start), "expiry": iso(w.end), "timeStampGen": iso(now), "suppFeat": "0"}
    return JSONResponse(data | {RESULT_KEYS[ev.event][0]: result})


@dataclass
class _Reporting:
    events: list[_Event]
    method: str
    period_s: float | None
    max_reports: int | None
    expires: float | None
    last_eval: float = float("-inf")
    digests: dict[int, Any] = field(default_factory=dict)


def _notif(state: NefState, ev: _Event, index: int, rep: _Reporting | None) -> dict[str, Any] | None:
    """One ``AnalyticsEventNotif``, or None when nothing changed (ON_EVENT_DETECTION)."""
    now = state.clock()
    notif: dict[str, Any] = {"analyEvent": ev.event, "timeStamp": iso(now)}
    try:
        w = calc.resolve_window(state, ev.start, ev.end, f"{ev.pointer}/analyEventFilter/extraReportReq")
    except calc.WindowSpansNow:
        return notif | {"failNotifyCode": "BOTH_STAT_PRED_NOT_ALLOWED"}
    result = _compute(state, ev, w)
    if rep is not None and rep.method == "ON_EVENT_DETECTION":
        d = calc.digest(ev.event, result, ev.levels)
        if rep.digests.get(index, object()) == d:
            return None
        rep.digests[index] = d
    notif |= {"start": iso(w.start), "expiry": iso(w.end), "timeStampGen": iso(now)}
    if result:
        notif[RESULT_KEYS[ev.event][1]] = result
    return notif


def _reporting(body: AnalyticsExposureSubsc) -> _Reporting:
    info = body.analyRepInfo
    method = (info.notifMethod if info else None) or "ON_EVENT_DETECTION"
    period = float(info.repPeriod) if info and info.repPeriod else None
    if method == "PERIODIC" and not period:
        raise ProblemError(
            400, "PERIODIC reporting needs repPeriod", invalid=[("/analyRepInfo/repPeriod", "missing")]
        )
    return _Reporting(
        events=[],
        method=method,
        period_s=period,
        max_reports=1 if method == "ONE_TIME" else (info.maxReportNbr if info else None),
        expires=info.monDur.timestamp() if info and info.monDur else None,
    )


def _build(state: NefState, owner: str, sub_id: str, url: str, body: AnalyticsExposureSubsc) -> Subscription:
    """The subscription for ``body``; events this NEF cannot serve go to ``failEventReports``."""
    rep = _reporting(body)
    failures = []
    for i, sub in enumerate(body.analyEventsSubs):
        pointer = f"/analyEventsSubs/{i}"
        extra = sub.analyEventFilter.extraReportReq if sub.analyEventFilter else None
        window = (extra.startTs, extra.endTs) if extra else (None, None)
        if sub.analyEvent not in calc.SUPPORTED:
            failures.append({"event": sub.analyEvent, "failureCode": "UNAVAILABLE_DATA"})
            continue
        try:
            calc.resolve_window(state, *window, f"{pointer}/analyEventFilter/extraReportReq")
        except calc.WindowSpansNow:
            failures.append({"event": sub.analyEvent, "failureCode": "BOTH_STAT_PRED_NOT_ALLOWED"})
            continue
        rep.events.append(_prepare(state, sub.analyEvent, sub.analyEventFilter, sub.tgtUe, pointer, window))
    resource = body.to_json() | {"self": url}
    resource.pop("eventNotifis", None)
    resource.pop("failEventReports", None)
    if failures:
        resource["failEventReports"] = failures
    subscription = Subscription(API, owner, sub_id, url, resource, state.clock(), rep)
    if body.analyRepInfo and body.analyRepInfo.immRep and rep.events:
        notifs = [n for i, ev in enumerate(rep.events) if (n := _notif(state, ev, i, rep)) is not None]
        resource["eventNotifis"] = notifs
        rep.last_eval = state.clock()
        subscription.reports = 1
    return subscription


def _active(sub: Subscription) -> bool:
    rep: _Reporting = sub.state
    return bool(rep.events) and not (rep.max_reports is not None and sub.reports >= rep.max_reports)


@router.post(
    "/{afId}/subscriptions",
    status_code=201,
    response_model=AnalyticsExposureSubsc,
    responses=CREATED_RESPONSES,
)
async def create_subscription(
    afId: str, body: AnalyticsExposureSubsc, request: Request, state: NefState = Depends(nef)
) -> JSONResponse:
    """Subscribe to analytics; events this NEF cannot serve come back in ``failEventReports``."""
    sub_id = state.store.new_id()
    url = resource_url(state, request, API, afId, sub_id)
    sub = await asyncio.to_thread(_build, state, afId, sub_id, url, body)
    if _active(sub):
        state.store.add(sub)
    return created(sub.resource, url)


@router.get("/{afId}/subscriptions", response_model=list[AnalyticsExposureSubsc])
async def list_subscriptions(afId: str, state: NefState = Depends(nef)) -> JSONResponse:
    """All active subscriptions of this AF."""
    return JSONResponse([s.resource for s in state.store.list(API, afId)])


@router.get("/{afId}/subscriptions/{subscriptionId}", response_model=AnalyticsExposureSubsc)
async def read_subscription(afId: str, subscriptionId: str, state: NefState = Depends(nef)) -> JSONResponse:
    """One subscription."""
    return JSONResponse(state.store.get(API, afId, subscriptionId).resource)


@router.put("/{afId}/subscriptions/{subscriptionId}", response_model=AnalyticsExposureSubsc)
async def replace_subscription(
    afId: str, subscriptionId: str, body: AnalyticsExposureSubsc, state: NefState = Depends(nef)
) -> JSONResponse:
    """Replace a subscription; reporting starts afresh."""
    old = state.store.get(API, afId, subscriptionId)
    new = await asyncio.to_thread(_build, state, afId, old.sub_id, old.url, body)
    state.store.discard(old)
    if _active(new):
        state.store.add(new)
    return JSONResponse(new.resource)


@router.delete("/{afId}/subscriptions/{subscriptionId}", status_code=204, response_class=Response)
async def delete_subscription(afId: str, subscriptionId: str, state: NefState = Depends(nef)) -> Response:
    """End a subscription."""
    state.store.remove(API, afId, subscriptionId)
    return Response(status_code=204)


def tick(state: NefState) -> None:
    """Evaluate subscriptions no more often than ``analytics_eval_interval_s`` (forecasts cost CPU)."""
    now = state.clock()
    for sub in state.store.list(API):
        rep: _Reporting = sub.state
        if rep.expires is not None and now >= rep.expires:
            state.store.discard(sub)
            continue
        interval = (
            rep.period_s
            if rep.method == "PERIODIC" and rep.period_s
            else state.settings.analytics_eval_interval_s
        )
        if now - rep.last_eval < interval:
            continue
        rep.last_eval = now
        notifs = []
        for i, ev in enumerate(rep.events):
            try:
                n = _notif(state, ev, i, rep)
            except (KeyError, ProblemError):
                continue  # the UE left the network since the subscription was made
            if n is not None:
                notifs.append(n)
        if not notifs:
            continue
        sub.reports += 1
        body: dict[str, Any] = {"notifId": sub.resource["notifId"], "analyEventNotifs": notifs}
        if rep.max_reports is not None and sub.reports >= rep.max_reports:
            state.store.discard(sub)
        state.notifier.send(API, sub.resource["notifUri"], body)
