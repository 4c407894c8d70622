"""TS 29.122 MonitoringEvent API (``3gpp-monitoring-event``) schemas."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, Strict

from nef_mock.models.common import (
    ApiModel,
    Bool,
    DateTime,
    DurationSec,
    Int,
    Link,
    NotifUri,
    Snssai,
    Str,
    SupportedFeatures,
    TimeWindow,
    UserLocation,
)


class LocationInfo(ApiModel):
    """Where the UE is: its serving cell as NCGI (``cellId``: nrCellId; ``userLocation.nrLocation``)."""

    ageOfLocationInfo: Annotated[int, Strict(), Field(ge=0)] | None = None
    cellId: Str | None = None
    trackingAreaId: Str | None = None
    plmnId: Str | None = None
    userLocation: UserLocation | None = None


class MonitoringEventReport(ApiModel):
    monitoringType: Str
    externalId: Str | None = None
    msisdn: Str | None = None
    eventTime: DateTime | None = None
    locationInfo: LocationInfo | None = None
    locFailureCause: Str | None = Field(
        default=None,
        description="LocationFailureCause: POSITIONING_DENIED, UNSUPPORTED_BY_UE, NOT_REGISTED_UE, "
        "UNSPECIFIED",
    )
    lossOfConnectReason: Int | None = None
    reachabilityType: Str | None = None
    maxUEAvailabilityTime: DateTime | None = None


class MonitoringEventReports(ApiModel):
    monitoringEventReports: list[MonitoringEventReport] = Field(min_length=1)


class MonitoringNotification(ApiModel):
    subscription: Link
    monitoringEventReports: list[MonitoringEventReport] | None = None
    cancelInd: Bool | None = None


class PatchItem(ApiModel):
    """One RFC 6902 JSON Patch operation (TS 29.571 ``PatchItem``)."""

    op: Str = Field(description="PatchOperation: add, copy, move, remove, replace, test")
    path: Str
    from_: Str | None = Field(default=None, alias="from")
    value: Any = None


class MonitoringEventSubscription(ApiModel):
    """A subscription to monitoring events; one UE by ``externalId`` or ``msisdn``."""

    self_: Link | None = Field(default=None, alias="self")
    supportedFeatures: SupportedFeatures | None = None
    mtcProviderId: Str | None = None
    appIds: list[Str] | None = None
    externalId: Str | None = Field(default=None, examples=["ue0001@fl.example.com"])
    msisdn: Str | None = Field(default=None, examples=["910000000000"])
    externalGroupId: Str | None = None
    dnn: Str | None = None
    snssai: Snssai | None = None
    notificationDestination: NotifUri
    requestTestNotification: Bool | None = None
    websockNotifConfig: dict[str, Any] | None = None
    monitoringType: Str = Field(
        description="MonitoringType: LOSS_OF_CONNECTIVITY, UE_REACHABILITY, LOCATION_REPORTING, ... "
        "(extensible)"
    )
    maximumNumberOfReports: Annotated[int, Strict(), Field(ge=1)] | None = None
    monitorExpireTime: DateTime | None = None
    repPeriod: DurationSec | None = None
    groupReportGuardTime: DurationSec | None = None
    maximumDetectionTime: DurationSec | None = None
    reachabilityType: Str | None = Field(default=None, description="ReachabilityType: SMS, DATA (extensible)")
    maximumLatency: DurationSec | None = None
    maximumResponseTime: DurationSec | None = None
    idleStatusIndication: Bool | None = None
    locationType: Str | None = Field(
        default=None,
        description="LocationType: CURRENT_LOCATION, LAST_KNOWN_LOCATION, CURRENT_OR_LAST_KNOWN_LOCATION, "
        "INITIAL_LOCATION (extensible)",
    )
    accuracy: Str | None = Field(default=None, description="Accuracy: CGI_ECGI, ... (extensible)")
    minimumReportInterval: DurationSec | None = None
    locTimeWindow: TimeWindow | None = None
    immediateRep: Bool | None = None
    monitoringEventReport: MonitoringEventReport | None = None
