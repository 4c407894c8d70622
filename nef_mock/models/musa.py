"""TS 29.522 §5.32 Member UE Selection Assistance API (``3gpp-musa``) schemas (spec spellings kept)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from nef_mock.models.common import (
    DIRECTION,
    ApiModel,
    DataVolumeTransferTime,
    DateTime,
    Gpsi,
    LocationArea5G,
    NonEmpty,
    NotifUri,
    Snssai,
    Str,
    SupportedFeatures,
    TimeWindow,
    Uinteger,
)


class QoSFilterCriteria(ApiModel):
    event: Str | None = Field(default=None, description="SmfEvent, e.g. QOS_MON")
    appId: Str | None = None
    dnn: Str | None = None
    snssai: Snssai | None = None
    ulDelay: Uinteger | None = None
    dlDelay: Uinteger | None = None
    rtDelay: Uinteger | None = None


class AccessRatTypeFilterCriteria(ApiModel):
    events: Annotated[list[Str], NonEmpty] | None = None
    dnn: Str | None = None
    snssai: Snssai | None = None
    accTypes: Annotated[list[Str], NonEmpty] | None = Field(
        default=None, description="AccessType: 3GPP_ACCESS, ..."
    )
    ratTypes: Annotated[list[Str], NonEmpty] | None = Field(
        default=None, description="RatType: NR, EUTRA, ..."
    )


class E2ETransTimeFilterCriteria(ApiModel):
    event: Str | None = Field(default=None, description="NwdafEvent, e.g. E2E_DATA_VOL_TRANS_TIME")
    appId: Str | None = None
    dnn: Str | None = None
    snssai: Snssai | None = None
    dataVolTransTime: DataVolumeTransferTime | None = None
    locationArea: LocationArea5G | None = None
    timeWin: TimeWindow | None = None


class UeLocFilterCriteria(ApiModel):
    event: Str | None = Field(default=None, description="AmfEventType, e.g. LOCATION_REPORT")
    loc: LocationArea5G | None = None


class UeDirectionFilterCriteria(ApiModel):
    event: Str | None = None
    directions: Annotated[list[Str], NonEmpty] | None = Field(default=None, description=DIRECTION)


class DnnFilterCriteria(ApiModel):
    event: Str | None = None
    dnn: Str | None = None


class MemUeSelectAssistSubsc(ApiModel):
    """The candidate UEs and the criteria they must meet (at least one filter list)."""

    tgtUes: Annotated[list[Gpsi], NonEmpty]
    notifUri: NotifUri
    notifId: Str
    expTime: DateTime | None = None
    qosFilters: Annotated[list[QoSFilterCriteria], NonEmpty] | None = None
    accRatTypeFilters: Annotated[list[AccessRatTypeFilterCriteria], NonEmpty] | None = None
    e2eTransTimeFilters: Annotated[list[E2ETransTimeFilterCriteria], NonEmpty] | None = None
    ueLocFilters: Annotated[list[UeLocFilterCriteria], NonEmpty] | None = None
    ueDirFilters: Annotated[list[UeDirectionFilterCriteria], NonEmpty] | None = None
    dnnFilters: Annotated[list[DnnFilterCriteria], NonEmpty] | None = None
    suppFeat: SupportedFeatures | None = None


class CandiUeInfo(ApiModel):
    candiUes: Annotated[list[Gpsi], NonEmpty]
    remdTimeWin: TimeWindow | None = None


class MemUeSeletReport(ApiModel):
    criterionType: Str = Field(
        description="FilterCriterionType: QOS, ACCESS_RAT_TYPE, E2E_DATA_VOLUME_TRANSFER_TIME, UE_LOCATION, "
        "UE_HISTORICAL_LOCATION, UE_DIRECTION, UE_DISTANCE, SERVICE_EXPERIENCE, DNN (extensible)"
    )
    numForCriterion: Uinteger


class MemUeSeletAssistNotif(ApiModel):
    notifId: Str
    candiUeInfos: Annotated[list[CandiUeInfo], NonEmpty]
    memUeSelectRpts: Annotated[list[MemUeSeletReport], NonEmpty] | None = None
