"""TS 29.122 MonitoringEvent API (``3gpp-monitoring-event``): location, loss of connectivity, reachability.

One-time requests (``maximumNumberOfReports: 1``) for the current location are answered at once
with 200 and a ``MonitoringEventReport``; everything else becomes a subscription that a background
watcher serves from the radio model (see ``tick``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from fastapi import Body, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from flcore.problem import ProblemError
from nef_mock.models.monitoring import (
    MonitoringEventReport,
    MonitoringEventReports,
    MonitoringEventSubscription,
    PatchItem,
)
from nef_mock.routes.common import (
    CREATED_RESPONSES,
    NefState,
    api_router,
    created,
    iso,
    known_link,
    nef,
    resource_url,
    user_location,
)
from nef_mock.routes.jsonpatch import apply_json_patch, validation_problem
from nef_mock.store import Subscription

API = "3gpp-monitoring-event"
SUPPORTED = ("LOCATION_REPORTING", "LOSS_OF_CONNECTIVITY", "UE_REACHABILITY")
# TS 29.522 lossOfConnectReason: 7 = maximum detection timer expired (the radio link is gone).
LOSS_REASON_DETECTION_TIMER = 7

# operationIds as in the 3GPP YAMLs where they have one (and unique within this document).
OPERATION_IDS = {
    "create_subscription": "CreateMonitoringEventSubscription",
    "list_subscriptions": "FetchAllMonitoringEventSubscriptions",
    "read_subscription": "FetchIndMonitoringEventSubscription",
    "replace_subscription": "UpdateIndMonitoringEventSubscription",
    "modify_subscription": "ModifyIndMonitoringEventSubscription",
    "delete_subscription": "DeleteIndMonitoringEventSubscription",
}

router = api_router(API, OPERATION_IDS)


@dataclass
class _Watch:
    """Runtime state of one subscription: what the watcher saw last."""

    gpsi: str
    mtype: str
    period_s: float | None
    max_reports: int | None
    expires: float | None
    detect_s: float
    last_report: float
    last_cell: str | None
    connected: bool
    lost_since: float | None = None
    lost_reported: bool = False


def _gpsi(body: MonitoringEventSubscription) -> tuple[str, str]:
    if body.msisdn:
        return f"msisdn-{body.msisdn}", "/msisdn"
    if body.externalId:
        return f"extid-{body.externalId}", "/externalId"
    if body.externalGroupId:
        raise ProblemError(
            400,
            "group subscriptions are not supported",
            invalid=[("/externalGroupId", "use externalId or msisdn")],
        )
    raise ProblemError(
        400, "the UE is missing", invalid=[("/externalId", "externalId or msisdn is required")]
    )


def _check(body: MonitoringEventSubscription) -> None:
    if body.maximumNumberOfReports is None and body.monitorExpireTime is None:
        raise ProblemError(
            400,
            "maximumNumberOfReports or monitorExpireTime is required",
            invalid=[("/maximumNumberOfReports", "missing"), ("/monitorExpireTime", "missing")],
        )
    if body.monitoringType not in SUPPORTED:
        raise ProblemError(
            400,
            f"monitoringType {body.monitoringType} is not supported by this NEF",
            cause="MONITORING_TYPE_NOT_SUPPORTED",
            invalid=[("/monitoringType", f"supported: {', '.join(SUPPORTED)}")],
        )


def _ue_ids(resource: dict[str, Any]) -> dict[str, Any]:
    return {k: resource[k] for k in ("externalId", "msisdn") if k in resource}


def location_report(state: NefState, gpsi: str, ids: dict[str, Any]) -> dict[str, Any]:
    """A LOCATION_REPORTING ``MonitoringEventReport``: the serving NR cell (FR2 or FR1) as NCGI."""
    link = state.radio.link(gpsi)
    report: dict[str, Any] = {"monitoringType": "LOCATION_REPORTING", **ids, "eventTime": iso(state.clock())}
    loc = user_location(state, link)
    if loc is None:
        report["locFailureCause"] = "UNSPECIFIED"
        return report
    plmn = state.radio.scenario.plmn
    report["locationInfo"] = {
        "ageOfLocationInfo": 0,
        "cellId": link.cell_id,
        "trackingAreaId": link.tac,
        "plmnId": f"{plmn.mcc}{plmn.mnc}",
        "userLocation": loc,
    }
    return report


def _watch(state: NefState, body: MonitoringEventSubscription, gpsi: str) -> _Watch:
    link = state.radio.link(gpsi)
    return _Watch(
        gpsi=gpsi,
        mtype=body.monitoringType,
        period_s=float(body.repPeriod) if body.repPeriod else None,
        max_reports=body.maximumNumberOfReports,
        expires=body.monitorExpireTime.timestamp() if body.monitorExpireTime else None,
        detect_s=float(body.maximumDetectionTime or 0),
        last_report=state.clock(),
        last_cell=link.cell_id,
        connected=link.connected,
    )


def _immediate(state: NefState, w: _Watch, ids: dict[str, Any], body: MonitoringEventSubscription) -> Any:
    if w.mtype == "LOCATION_REPORTING":
        return location_report(state, w.gpsi, ids)
    if w.mtype == "UE_REACHABILITY" and w.connected:
        return {
            "monitoringType": "UE_REACHABILITY",
            **ids,
            "eventTime": iso(state.clock()),
            "reachabilityType": body.reachabilityType or "DATA",
        }
    return None


@router.post(
    "/{scsAsId}/subscriptions",
    status_code=201,
    response_model=MonitoringEventSubscription,
    responses={
        **CREATED_RESPONSES,
        200: {"model": MonitoringEventReport | MonitoringEventReports, "description": "one-time report"},
    },
)
async def create_subscription(
    scsAsId: str, body: MonitoringEventSubscription, request: Request, state: NefState = Depends(nef)
) -> Response:
    """Create a subscription, or answer a one-time request (maximumNumberOfReports 1) with 200."""
    _check(body)
    gpsi, pointer = _gpsi(body)
    known_link(state, gpsi, pointer)
    resource = body.to_json()
    resource.pop("self", None)
    ids = _ue_ids(resource)
    watch = _watch(state, body, gpsi)
    report = _immediate(state, watch, ids, body)
    if body.maximumNumberOfReports == 1 and report is not None:
        return JSONResponse(report, status_code=200)
    sub_id = state.store.new_id()
    url = resource_url(state, request, API, scsAsId, sub_id)
    resource["self"] = url
    sub = Subscription(API, scsAsId, sub_id, url, resource, state.clock(), watch)
    if body.immediateRep and report is not None:
        resource["monitoringEventReport"] = report
        sub.reports = 1
    state.store.add(sub)
    if body.requestTestNotification:
        state.notifier.send(API, body.notificationDestination, {"subscription": url})
    return created(resource, url)


@router.get("/{scsAsId}/subscriptions", response_model=list[MonitoringEventSubscription])
async def list_subscriptions(scsAsId: str, state: NefState = Depends(nef)) -> JSONResponse:
    """All active subscriptions of this SCS/AS."""
    return JSONResponse([s.resource for s in state.store.list(API, scsAsId)])


@router.get("/{scsAsId}/subscriptions/{subscriptionId}", response_model=MonitoringEventSubscription)
async def read_subscription(
    scsAsId: str, subscriptionId: str, state: NefState = Depends(nef)
) -> JSONResponse:
    """One subscription."""
    return JSONResponse(state.store.get(API, scsAsId, subscriptionId).resource)


def _replace(state: NefState, sub: Subscription, body: MonitoringEventSubscription) -> dict[str, Any]:
    _check(body)
    gpsi, pointer = _gpsi(body)
    known_link(state, gpsi, pointer)
    resource = body.to_json()
    resource["self"] = sub.url
    watch = _watch(state, body, gpsi)
    old: _Watch = sub.state
    watch.last_report, watch.lost_since, watch.lost_reported = (
        old.last_report,
        old.lost_since,
        old.lost_reported,
    )
    sub.resource, sub.state = resource, watch
    return resource


@router.put("/{scsAsId}/subscriptions/{subscriptionId}", response_model=MonitoringEventSubscription)
async def replace_subscription(
    scsAsId: str, subscriptionId: str, body: MonitoringEventSubscription, state: NefState = Depends(nef)
) -> JSONResponse:
    """Replace a subscription."""
    sub = state.store.get(API, scsAsId, subscriptionId)
    return JSONResponse(_replace(state, sub, body))


@router.patch("/{scsAsId}/subscriptions/{subscriptionId}", status_code=204, response_class=Response)
async def modify_subscription(
    scsAsId: str,
    subscriptionId: str,
    patch: list[PatchItem] = Body(min_length=1, media_type="application/json-patch+json"),
    state: NefState = Depends(nef),
) -> Response:
    """Apply an RFC 6902 JSON Patch to a subscription."""
    sub = state.store.get(API, scsAsId, subscriptionId)
    doc = apply_json_patch(copy.deepcopy(sub.resource), [p.to_json() | {"value": p.value} for p in patch])
    try:
        body = MonitoringEventSubscription.model_validate(doc)
    except ValidationError as exc:
        raise validation_problem(exc) from None
    _replace(state, sub, body)
    return Response(status_code=204)


@router.delete("/{scsAsId}/subscriptions/{subscriptionId}", status_code=204, response_class=Response)
async def delete_subscription(scsAsId: str, subscriptionId: str, state: NefState = Depends(nef)) -> Response:
    """End a subscription."""
    state.store.remove(API, scsAsId, subscriptionId)
    return Response(status_code=204)


def _notify(state: NefState, sub: Subscription, report: dict[str, Any]) -> None:
    sub.reports += 1
    w: _Watch = sub.state
    w.last_report = state.clock()
    body: dict[str, Any] = {"subscription": sub.url, "monitoringEventReports": [report]}
    if w.max_reports is not None and sub.reports >= w.max_reports:
        body["cancelInd"] = True
        state.store.discard(sub)
    state.notifier.send(API, sub.resource["notificationDestination"], body)


def tick(state: NefState) -> None:
    """Serve every subscription from the radio model; called every ``watch_interval_s``."""
    now = state.clock()
    for sub in state.store.list(API):
        w: _Watch = sub.state
        if w.expires is not None and now >= w.expires:
            state.store.discard(sub)
            continue
        try:
            link = state.radio.link(w.gpsi)
        except KeyError:
            continue
        ids = _ue_ids(sub.resource)
        stamp = {"monitoringType": w.mtype, **ids, "eventTime": iso(now)}
        if w.mtype == "LOCATION_REPORTING":
            due = now - w.last_report >= w.period_s if w.period_s else link.cell_id != w.last_cell
            w.last_cell = link.cell_id
            if due:
                _notify(state, sub, location_report(state, w.gpsi, ids))
        elif w.mtype == "LOSS_OF_CONNECTIVITY":
            if link.connected:
                w.lost_since, w.lost_reported = None, False
            else:
                w.lost_since = now if w.lost_since is None else w.lost_since
                if not w.lost_reported and now - w.lost_since >= w.detect_s:
                    w.lost_reported = True
                    _notify(state, sub, {**stamp, "lossOfConnectReason": LOSS_REASON_DETECTION_TIMER})
        elif w.mtype == "UE_REACHABILITY":
            if link.connected and not w.connected:
                _notify(
                    state, sub, {**stamp, "reachabilityType": sub.resource.get("reachabilityType", "DATA")}
                )
        w.connected = link.connected
