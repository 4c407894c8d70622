"""TS 29.122 AsSessionWithQoS API (``3gpp-as-session-with-qos``) schemas, and our qosReference catalogue."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from nef_mock.models.common import (
    ApiModel,
    BitRate,
    Bool,
    DurationSec,
    FiveQi,
    Gpsi,
    Int,
    Link,
    NonEmpty,
    NotifUri,
    PacketDelBudget,
    Snssai,
    Str,
    SupportedFeatures,
    Uinteger,
)

USER_PLANE_EVENTS = (
    "UserPlaneEvent: SESSION_TERMINATION, LOSS_OF_BEARER, RECOVERY_OF_BEARER, RELEASE_OF_BEARER, "
    "USAGE_REPORT, FAILED_RESOURCES_ALLOCATION, QOS_GUARANTEED, QOS_NOT_GUARANTEED, QOS_MONITORING, "
    "SUCCESSFUL_RESOURCES_ALLOCATION, ... (extensible)"
)


class FlowInfo(ApiModel):
    flowId: Int
    flowDescriptions: Annotated[list[Str], Field(min_length=1, max_length=2)] | None = None
    tosTC: Str | None = None


class QosMonitoringInformation(ApiModel):
    reqQosMonParams: Annotated[list[Str], NonEmpty] = Field(
        description="RequestedQosMonitoringParameter: DOWNLINK, UPLINK, ROUND_TRIP, DOWNLINK_DATA_RATE, "
        "UPLINK_DATA_RATE, ... (extensible)"
    )
    repFreqs: Annotated[list[Str], NonEmpty] = Field(
        description="ReportingFrequency: EVENT_TRIGGERED, PERIODIC (extensible)"
    )
    repThreshDl: Uinteger | None = None
    repThreshUl: Uinteger | None = None
    repThreshRp: Uinteger | None = None
    waitTime: DurationSec | None = None
    repPeriod: DurationSec | None = None
    repThreshDatRateDl: BitRate | None = None
    repThreshDatRateUl: BitRate | None = None


class AsSessionWithQoSSubscription(ApiModel):
    """A request for QoS on the UE's session; this NEF needs the UE as ``gpsi``."""

    self_: Link | None = Field(default=None, alias="self")
    supportedFeatures: SupportedFeatures | None = None
    dnn: Str | None = None
    snssai: Snssai | None = None
    notificationDestination: NotifUri
    exterAppId: Str | None = None
    gpsi: Gpsi | None = None
    flowInfo: Annotated[list[FlowInfo], NonEmpty] | None = None
    qosReference: Str | None = Field(default=None, examples=["fl-ul-boost"])
    altQoSReferences: Annotated[list[Str], NonEmpty] | None = None
    ueIpv4Addr: Str | None = None
    ueIpv6Addr: Str | None = None
    macAddr: Str | None = None
    qosMonInfo: QosMonitoringInformation | None = None
    qosMonDatRate: QosMonitoringInformation | None = None
    qosDuration: DurationSec | None = None
    qosInactInt: DurationSec | None = None
    requestTestNotification: Bool | None = None
    websockNotifConfig: dict[str, Any] | None = None
    events: Annotated[list[Str], NonEmpty] | None = Field(default=None, description=USER_PLANE_EVENTS)


class AsSessionWithQoSSubscriptionPatch(ApiModel):
    """JSON merge patch (RFC 7396) of a subscription; ``null`` removes an attribute."""

    flowInfo: Annotated[list[FlowInfo], NonEmpty] | None = None
    qosReference: Str | None = None
    altQoSReferences: Annotated[list[Str], NonEmpty] | None = None
    qosMonInfo: QosMonitoringInformation | None = None
    qosMonDatRate: QosMonitoringInformation | None = None
    notificationDestination: NotifUri | None = None
    events: Annotated[list[Str], NonEmpty] | None = None
    qosDuration: DurationSec | None = None


class QosMonitoringReport(ApiModel):
    ulDelays: list[Uinteger] | None = None
    dlDelays: list[Uinteger] | None = None
    ulDataRate: BitRate | None = None
    dlDataRate: BitRate | None = None


class UserPlaneEventReport(ApiModel):
    event: Str = Field(description=USER_PLANE_EVENTS)
    flowIds: list[Int] | None = None
    appliedQosRef: Str | None = None
    qosMonReports: list[QosMonitoringReport] | None = None
    ratType: Str | None = None


class UserPlaneNotificationData(ApiModel):
    transaction: Link
    eventReports: Annotated[list[UserPlaneEventReport], NonEmpty]


class QosReference(ApiModel):
    """One entry of this NEF's qosReference catalogue (operator-defined: TS 29.122 leaves it open)."""

    qosReference: Str
    fiveQi: FiveQi = Field(alias="5qi")
    resType: Str = Field(description="GBR, NON_GBR or DELAY_CRITICAL_GBR")
    gfbrUl: BitRate | None = None
    gfbrDl: BitRate | None = None
    mbrUl: BitRate | None = None
    mbrDl: BitRate | None = None
    pdb: PacketDelBudget = Field(description="packet delay budget, ms")
    description: Str
