"""TS 29.122 AsSessionWithQoS API (``3gpp-as-session-with-qos``): GBR grants in the radio model.

A ``qosReference`` names an entry of this NEF's catalogue (``qos_catalogue``). Creating a
subscription grants the entry's GFBR in the radio model; the watcher reports ``QOS_GUARANTEED`` /
``QOS_NOT_GUARANTEED`` on changes of ``gbr_satisfied`` and ``QOS_MONITORING`` data rates, as
``UserPlaneNotificationData``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Body, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from flcore.problem import ProblemError
from nef_mock.models.qos import (
    AsSessionWithQoSSubscription,
    AsSessionWithQoSSubscriptionPatch,
)
from nef_mock.routes.common import (
    CREATED_RESPONSES,
    NefState,
    air_delay_ms,
    api_router,
    created,
    format_bitrate,
    known_link,
    nef,
    parse_bitrate,
    resource_url,
)
from nef_mock.routes.jsonpatch import merge_patch, validation_problem
from nef_mock.store import Subscription

API = "3gpp-as-session-with-qos"

# operationIds as in the 3GPP YAMLs where they have one (and unique within this document).
OPERATION_IDS = {
    "create_subscription": "CreateASSessionWithQoSSubscription",
    "list_subscriptions": "FetchAllASSessionWithQoSSubscriptions",
    "read_subscription": "FetchIndASSessionWithQoSSubscription",
    "replace_subscription": "UpdateIndASSessionWithQoSSubscription",
    "modify_subscription": "ModifyIndASSessionWithQoSSubscription",
    "delete_subscription": "DeleteIndASSessionWithQoSSubscription",
}

router = api_router(API, OPERATION_IDS)


@dataclass
class _Session:
    gpsi: str
    ref: str
    grant: Any
    events: set[str]
    flow_ids: list[int]
    mon_params: set[str]
    mon_period_s: float | None
    mon_thresholds: tuple[float | None, float | None]
    expires: float | None
    guaranteed: bool | None = None
    below: bool | None = None
    last_mon: float = 0.0


def _choose_ref(state: NefState, body: AsSessionWithQoSSubscription) -> str:
    if body.qosReference is None:
        raise ProblemError(
            400, "qosReference is required by this NEF", invalid=[("/qosReference", "missing")]
        )
    for pointer, ref in [("/qosReference", body.qosReference)] + [
        (f"/altQoSReferences/{i}", r) for i, r in enumerate(body.altQoSReferences or [])
    ]:
        if ref not in state.qos_catalogue:
            raise ProblemError(
                400,
                f"unknown qosReference {ref!r} (see /nef/v1/qos-references)",
                cause="QOS_REFERENCE_UNKNOWN",
                invalid=[(pointer, "not in the catalogue")],
            )
    return body.qosReference


def _grant(state: NefState, gpsi: str, ref: str) -> Any:
    entry = state.qos_catalogue[ref]
    if entry["resType"] == "NON_GBR":
        return None
    ul = parse_bitrate(entry.get("gfbrUl", "0 bps"))
    dl = parse_bitrate(entry.get("gfbrDl", "0 bps"))
    return state.radio.grant_gbr(gpsi, ul, dl)


def _session(state: NefState, body: AsSessionWithQoSSubscription) -> _Session:
    if not body.gpsi:
        raise ProblemError(
            400,
            "this NEF identifies the UE by gpsi only",
            invalid=[("/gpsi", "missing (UE addresses not mapped)")],
        )
    known_link(state, body.gpsi, "/gpsi")
    ref = _choose_ref(state, body)
    mon = body.qosMonDatRate or body.qosMonInfo
    period = None
    thresholds: tuple[float | None, float | None] = (None, None)
    params: set[str] = set()
    if mon is not None:
        params = set(mon.reqQosMonParams)
        if "PERIODIC" in mon.repFreqs:
            period = float(mon.repPeriod or 1)
        if "EVENT_TRIGGERED" in mon.repFreqs:
            thresholds = (
                parse_bitrate(mon.repThreshDatRateUl) if mon.repThreshDatRateUl else None,
                parse_bitrate(mon.repThreshDatRateDl) if mon.repThreshDatRateDl else None,
            )
    return _Session(
        gpsi=body.gpsi,
        ref=ref,
        grant=_grant(state, body.gpsi, ref),
        events=set(body.events or []),
        flow_ids=[f.flowId for f in body.flowInfo or []],
        mon_params=params,
        mon_period_s=period,
        mon_thresholds=thresholds,
        expires=state.clock() + body.qosDuration if body.qosDuration else None,
        last_mon=state.clock(),
    )


def _release(state: NefState, s: _Session) -> None:
    if s.grant is not None:
        state.radio.revoke_gbr(s.grant)
        s.grant = None


@router.post(
    "/{scsAsId}/subscriptions",
    status_code=201,
    response_model=AsSessionWithQoSSubscription,
    responses=CREATED_RESPONSES,
)
async def create_subscription(
    scsAsId: str, body: AsSessionWithQoSSubscription, request: Request, state: NefState = Depends(nef)
) -> JSONResponse:
    """Ask for the QoS named by ``qosReference`` for the UE ``gpsi``."""
    session = _session(state, body)
    sub_id = state.store.new_id()
    url = resource_url(state, request, API, scsAsId, sub_id)
    resource = body.to_json() | {"self": url}
    try:
        state.store.add(Subscription(API, scsAsId, sub_id, url, resource, state.clock(), session))
    except ProblemError:
        _release(state, session)
        raise
    if "SUCCESSFUL_RESOURCES_ALLOCATION" in session.events:
        _notify(
            state,
            url,
            resource,
            [_report(session, "SUCCESSFUL_RESOURCES_ALLOCATION", appliedQosRef=session.ref)],
        )
    return created(resource, url)


@router.get("/{scsAsId}/subscriptions", response_model=list[AsSessionWithQoSSubscription])
async def list_subscriptions(scsAsId: str, state: NefState = Depends(nef)) -> JSONResponse:
    """All active subscriptions of this SCS/AS."""
    return JSONResponse([s.resource for s in state.store.list(API, scsAsId)])


@router.get("/{scsAsId}/subscriptions/{subscriptionId}", response_model=AsSessionWithQoSSubscription)
async def read_subscription(
    scsAsId: str, subscriptionId: str, state: NefState = Depends(nef)
) -> JSONResponse:
    """One subscription."""
    return JSONResponse(state.store.get(API, scsAsId, subscriptionId).resource)


def _replace(state: NefState, sub: Subscription, body: AsSessionWithQoSSubscription) -> JSONResponse:
    old: _Session = sub.state
    if body.gpsi != old.gpsi:
        raise ProblemError(
            400, "the UE of a subscription cannot change", invalid=[("/gpsi", f"must be {old.gpsi}")]
        )
    _release(state, old)
    try:
        session = _session(state, body)
    except ProblemError:
        old.grant = _grant(state, old.gpsi, old.ref)
        raise
    sub.resource, sub.state = body.to_json() | {"self": sub.url}, session
    return JSONResponse(sub.resource)


@router.put("/{scsAsId}/subscriptions/{subscriptionId}", response_model=AsSessionWithQoSSubscription)
async def replace_subscription(
    scsAsId: str, subscriptionId: str, body: AsSessionWithQoSSubscription, state: NefState = Depends(nef)
) -> JSONResponse:
    """Replace a subscription (the grant follows the new qosReference)."""
    return _replace(state, state.store.get(API, scsAsId, subscriptionId), body)


@router.patch("/{scsAsId}/subscriptions/{subscriptionId}", response_model=AsSessionWithQoSSubscription)
async def modify_subscription(
    scsAsId: str,
    subscriptionId: str,
    patch: AsSessionWithQoSSubscriptionPatch = Body(media_type="application/merge-patch+json"),
    state: NefState = Depends(nef),
) -> JSONResponse:
    """Modify a subscription with a JSON merge patch (RFC 7396)."""
    sub = state.store.get(API, scsAsId, subscriptionId)
    changes = patch.model_dump(mode="json", by_alias=True, exclude_unset=True)
    changes.pop("self", None)
    try:
        body = AsSessionWithQoSSubscription.model_validate(merge_patch(sub.resource, changes))
    except ValidationError as exc:
        raise validation_problem(exc) from None
    return _replace(state, sub, body)


@router.delete("/{scsAsId}/subscriptions/{subscriptionId}", status_code=204, response_class=Response)
async def delete_subscription(scsAsId: str, subscriptionId: str, state: NefState = Depends(nef)) -> Response:
    """End the subscription and release its QoS."""
    sub = state.store.remove(API, scsAsId, subscriptionId)
    _release(state, sub.state)
    return Response(status_code=204)


def _report(s: _Session, event: str, **extra: Any) -> dict[str, Any]:
    report: dict[str, Any] = {"event": event, **extra}
    if s.flow_ids:
        report["flowIds"] = s.flow_ids
    return report


def _notify(state: NefState, url: str, resource: dict[str, Any], reports: list[dict[str, Any]]) -> None:
    body = {"transaction": url, "eventReports": reports}
    state.notifier.send(API, resource["notificationDestination"], body)


def _monitoring(state: NefState, s: _Session, now: float) -> dict[str, Any] | None:
    link = state.radio.link(s.gpsi)
    ul_thr, dl_thr = s.mon_thresholds
    below = (ul_thr is not None and link.ul_rate_bps < ul_thr) or (
        dl_thr is not None and link.dl_rate_bps < dl_thr
    )
    crossed = (ul_thr is not None or dl_thr is not None) and s.below is not None and below != s.below
    s.below = below
    periodic = s.mon_period_s is not None and now - s.last_mon >= s.mon_period_s
    if not (crossed or periodic):
        return None
    s.last_mon = now
    rep: dict[str, Any] = {}
    if s.mon_params & {"UPLINK_DATA_RATE", "DOWNLINK_DATA_RATE"} or not s.mon_params & {"UPLINK", "DOWNLINK"}:
        rep["ulDataRate"] = format_bitrate(link.ul_rate_bps)
        rep["dlDataRate"] = format_bitrate(link.dl_rate_bps)
    delay = air_delay_ms(link)
    if delay is not None and s.mon_params & {"UPLINK", "DOWNLINK", "ROUND_TRIP"}:
        rep["ulDelays"], rep["dlDelays"] = [delay], [delay]
    return _report(s, "QOS_MONITORING", qosMonReports=[rep])


def tick(state: NefState) -> None:
    """Report QoS (not) guaranteed transitions, monitoring data and expiry of ``qosDuration``."""
    now = state.clock()
    for sub in state.store.list(API):
        s: _Session = sub.state
        if s.expires is not None and now >= s.expires:
            state.store.discard(sub)
            _release(state, s)
            if "SESSION_TERMINATION" in s.events:
                _notify(state, sub.url, sub.resource, [_report(s, "SESSION_TERMINATION")])
            continue
        if not state.radio.known(s.gpsi):
            continue
        reports: list[dict[str, Any]] = []
        if s.grant is not None:
            guaranteed = state.radio.gbr_satisfied(s.grant)
            if guaranteed != s.guaranteed:
                s.guaranteed = guaranteed
                if guaranteed and "QOS_GUARANTEED" in s.events:
                    reports.append(_report(s, "QOS_GUARANTEED"))
                elif not guaranteed and "QOS_NOT_GUARANTEED" in s.events:
                    reports.append(_report(s, "QOS_NOT_GUARANTEED", appliedQosRef=s.ref))
        if s.mon_params and (not s.events or "QOS_MONITORING" in s.events):
            mon = _monitoring(state, s, now)
            if mon is not None:
                reports.append(mon)
        if reports:
            _notify(state, sub.url, sub.resource, reports)
