"""TS 29.522 AnalyticsExposure API (``3gpp-analyticsexposure``) schemas (outputs from TS 29.520)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, Strict

from nef_mock.models.common import (
    DIRECTION,
    ApiModel,
    BitRate,
    Bool,
    DataVolumeTransferTime,
    DateTime,
    DurationSec,
    FiveQi,
    Gpsi,
    Link,
    LocationArea5G,
    NonEmpty,
    NotifUri,
    PacketDelBudget,
    Snssai,
    Str,
    SupportedFeatures,
    TimeWindow,
    Uinteger,
    UserLocation,
    Volume,
)

ANALYTICS_EVENTS = (
    "AnalyticsEvent: UE_MOBILITY, UE_COMM, ABNORMAL_BEHAVIOR, CONGESTION, NETWORK_PERFORMANCE, "
    "QOS_SUSTAINABILITY, DISPERSION, DN_PERFORMANCE, SERVICE_EXPERIENCE, E2E_DATA_VOL_TRANS_TIME, ... "
    "(extensible); this NEF "
    "answers QOS_SUSTAINABILITY, UE_MOBILITY and E2E_DATA_VOL_TRANS_TIME"
)
Ratio = Annotated[int, Strict(), Field(ge=1, le=100)]


class TargetUeId(ApiModel):
    anyUeInd: Bool | None = None
    gpsi: Gpsi | None = None
    exterGroupId: Str | None = None


class DataVolume(ApiModel):
    uplinkVolume: Volume | None = None
    downlinkVolume: Volume | None = None


class E2eDataVolTransTimeReq(ApiModel):
    criterion: Str | None = Field(default=None, description="TIME_SLOT_START, E2E_DATA_VOL_TRANS_TIME")
    order: Str | None = Field(default=None, description="MatchingDirection: ASCENDING, DESCENDING, CROSSED")
    highTransTmThr: Uinteger | None = None
    lowTransTmThr: Uinteger | None = None
    repeatDataTrans: Uinteger | None = None
    tsIntervalDataTrans: DateTime | None = None
    dataVolume: DataVolume | None = None
    maxNumberUes: Uinteger | None = None


class QosRequirement(ApiModel):
    fiveQi: FiveQi | None = Field(default=None, alias="5qi")
    gfbrUl: BitRate | None = None
    gfbrDl: BitRate | None = None
    resType: Str | None = None
    pdb: PacketDelBudget | None = None


class EventReportingRequirement(ApiModel):
    """When the analytics are for: a past window gives statistics, a future one predictions."""

    accuracy: Str | None = None
    startTs: DateTime | None = None
    endTs: DateTime | None = None
    offsetPeriod: Annotated[int, Strict()] | None = None
    sampRatio: Ratio | None = None
    maxObjectNbr: Uinteger | None = None


class AnalyticsEventFilter(ApiModel):
    """Fetch filter. ``ranUeThrouThds`` and ``dataVlTrnsTmRqs`` are only in the subscription filter of
    the Rel-18 (Dec 2023) YAML; this NEF accepts them in a fetch too (as extension attributes)."""

    locArea: LocationArea5G | None = None
    temporalGranSize: DurationSec | None = None
    dnn: Str | None = None
    appIds: list[Str] | None = None
    snssai: Snssai | None = None
    qosReq: QosRequirement | None = None
    ratFreqs: list[dict[str, Any]] | None = None
    ranUeThrouThds: Annotated[list[BitRate], NonEmpty] | None = None
    dataVlTrnsTmRqs: Annotated[list[E2eDataVolTransTimeReq], NonEmpty] | None = None
    dataVlTrnsTmReqs: Annotated[list[E2eDataVolTransTimeReq], NonEmpty] | None = None


class AnalyticsEventFilterSubsc(AnalyticsEventFilter):
    matchingDir: Str | None = None
    extraReportReq: EventReportingRequirement | None = None


class AnalyticsRequest(ApiModel):
    analyEvent: Str = Field(description=ANALYTICS_EVENTS)
    analyEventFilter: AnalyticsEventFilter | None = None
    analyRep: EventReportingRequirement | None = None
    tgtUe: TargetUeId | None = None
    suppFeat: SupportedFeatures


class QosSustainabilityExposure(ApiModel):
    locArea: LocationArea5G
    startTs: DateTime
    endTs: DateTime
    ranUeThrouThd: BitRate | None = None
    snssai: Snssai | None = None
    confidence: Uinteger | None = None


class UeLocationInfo(ApiModel):
    loc: LocationArea5G
    ratio: Ratio | None = None
    confidence: Uinteger | None = None


class DirectionInfo(ApiModel):
    gpsi: Gpsi | None = None
    avrSpeed: float | None = None
    ratio: Ratio | None = None
    direction: Str = Field(description=DIRECTION)


class UeMobilityExposure(ApiModel):
    ts: DateTime | None = None
    duration: DurationSec
    durationVariance: float | None = None
    locInfo: Annotated[list[UeLocationInfo], NonEmpty]
    directionInfos: list[DirectionInfo] | None = None


class E2eDataVolTransTimePerUe(ApiModel):
    gpsi: Gpsi | None = None
    appId: Str | None = None
    ueLoc: UserLocation | None = None
    dnn: Str | None = None
    validityPeriod: TimeWindow | None = None
    dataVolTransTime: DataVolumeTransferTime | None = None


class E2eDataVolTransTimePerTS(ApiModel):
    tsStart: DateTime
    tsDuration: DurationSec
    e2eDataVolTransTimePerUe: Annotated[list[E2eDataVolTransTimePerUe], NonEmpty]


class E2eDataVolTransTimeInfo(ApiModel):
    e2eDataVolTransTimes: Annotated[list[E2eDataVolTransTimePerTS], NonEmpty]
    confidence: Uinteger | None = None


class AnalyticsData(ApiModel):
    start: DateTime | None = None
    expiry: DateTime | None = None
    timeStampGen: DateTime | None = None
    ueMobilityInfos: list[UeMobilityExposure] | None = None
    dataVlTrnsTmInfos: list[E2eDataVolTransTimeInfo] | None = None
    qosSustainInfos: list[QosSustainabilityExposure] | None = None
    suppFeat: SupportedFeatures


class AnalyticsEventNotif(ApiModel):
    analyEvent: Str = Field(description=ANALYTICS_EVENTS)
    expiry: DateTime | None = None
    timeStamp: DateTime
    start: DateTime | None = None
    timeStampGen: DateTime | None = None
    failNotifyCode: Str | None = None
    ueMobilityInfos: list[UeMobilityExposure] | None = None
    dataVlTrnsTmIfs: list[E2eDataVolTransTimeInfo] | None = None
    qosSustainInfos: list[QosSustainabilityExposure] | None = None


class AnalyticsEventNotification(ApiModel):
    notifId: Str
    analyEventNotifs: Annotated[list[AnalyticsEventNotif], NonEmpty]
    termCause: Str | None = None


class AnalyticsEventSubsc(ApiModel):
    analyEvent: Str = Field(description=ANALYTICS_EVENTS)
    analyEventFilter: AnalyticsEventFilterSubsc | None = None
    tgtUe: TargetUeId | None = None


class ReportingInformation(ApiModel):
    """TS 29.523: how and how often to report."""

    immRep: Bool | None = None
    notifMethod: Str | None = Field(
        default=None, description="PERIODIC, ONE_TIME, ON_EVENT_DETECTION (extensible)"
    )
    maxReportNbr: Uinteger | None = None
    monDur: DateTime | None = None
    repPeriod: DurationSec | None = None


class AnalyticsFailureEventInfo(ApiModel):
    event: Str
    failureCode: Str = Field(
        description="AnalyticsFailureCode: UNAVAILABLE_DATA, BOTH_STAT_PRED_NOT_ALLOWED, "
        "UNSATISFIED_REQUESTED_ANALYTICS_TIME, OTHER (extensible)"
    )


class AnalyticsExposureSubsc(ApiModel):
    analyEventsSubs: Annotated[list[AnalyticsEventSubsc], NonEmpty]
    analyRepInfo: ReportingInformation | None = None
    notifUri: NotifUri
    notifId: Str
    eventNotifis: list[AnalyticsEventNotif] | None = None
    failEventReports: list[AnalyticsFailureEventInfo] | None = None
    suppFeat: SupportedFeatures | None = None
    self_: Link | None = Field(default=None, alias="self")
    requestTestNotification: Bool | None = None
