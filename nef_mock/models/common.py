"""Common data types (TS 29.122 / TS 29.571) used by more than one API."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, Strict

Int = Annotated[int, Strict()]
Bool = Annotated[bool, Strict()]
Str = Annotated[str, Strict()]
Uinteger = Annotated[int, Strict(), Field(ge=0)]
DurationSec = Annotated[int, Strict(), Field(ge=0)]
Volume = Annotated[int, Strict(), Field(ge=0)]
DateTime = AwareDatetime
BitRate = Annotated[
    str, Strict(), Field(pattern=r"^\d+(\.\d+)? (bps|Kbps|Mbps|Gbps|Tbps)$", examples=["6.5 Gbps"])
]
Gpsi = Annotated[str, Strict(), Field(min_length=1, examples=["msisdn-910000000000"])]
SupportedFeatures = Annotated[str, Strict(), Field(pattern=r"^[A-Fa-f0-9]*$")]
Mcc = Annotated[str, Strict(), Field(pattern=r"^\d{3}$")]
Mnc = Annotated[str, Strict(), Field(pattern=r"^\d{2,3}$")]
NrCellId = Annotated[str, Strict(), Field(pattern=r"^[A-Fa-f0-9]{9}$")]
Tac = Annotated[str, Strict(), Field(pattern=r"(^[A-Fa-f0-9]{4}$)|(^[A-Fa-f0-9]{6}$)")]
FiveQi = Annotated[int, Strict(), Field(ge=0, le=255)]
PacketDelBudget = Annotated[int, Strict(), Field(ge=1)]
# An array attribute with minItems 1: ``Annotated[list[X], NonEmpty]``.
NonEmpty = Field(min_length=1)
DIRECTION = "Direction: NORTH, SOUTH, EAST, WEST, NORTHWEST, NORTHEAST, SOUTHWEST, SOUTHEAST"


def _absolute_http_uri(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http(s) URI")
    return value


NotifUri = Annotated[
    str, Strict(), AfterValidator(_absolute_http_uri), Field(examples=["http://127.0.0.1:8080/cb"])
]
Link = Annotated[str, Strict()]


class ApiModel(BaseModel):
    """Base of every 3GPP schema here: unknown attributes are kept, never refused."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class PlmnId(ApiModel):
    mcc: Mcc
    mnc: Mnc


class Ncgi(ApiModel):
    plmnId: PlmnId
    nrCellId: NrCellId
    nid: Str | None = None


class Tai(ApiModel):
    plmnId: PlmnId
    tac: Tac
    nid: Str | None = None


class NrLocation(ApiModel):
    tai: Tai
    ncgi: Ncgi
    ageOfLocationInformation: Annotated[int, Strict(), Field(ge=0, le=32767)] | None = None
    ueLocationTimestamp: DateTime | None = None


class UserLocation(ApiModel):
    nrLocation: NrLocation | None = None


class NetworkAreaInfo(ApiModel):
    ecgis: list[dict[str, Any]] | None = None
    ncgis: list[Ncgi] | None = None
    gRanNodeIds: list[dict[str, Any]] | None = None
    tais: list[Tai] | None = None


class LocationArea5G(ApiModel):
    geographicAreas: list[dict[str, Any]] | None = None
    civicAddresses: list[dict[str, Any]] | None = None
    nwAreaInfo: NetworkAreaInfo | None = None


class TimeWindow(ApiModel):
    startTime: DateTime
    stopTime: DateTime


class Snssai(ApiModel):
    sst: Annotated[int, Strict(), Field(ge=0, le=255)]
    sd: Annotated[str, Strict(), Field(pattern=r"^[A-Fa-f0-9]{6}$")] | None = None


class DataVolumeTransferTime(ApiModel):
    """TS 29.520: a data volume and its transfer time (ms assumed: the YAML states no unit)."""

    uplinkVolume: Volume | None = None
    avgTransTimeUl: Uinteger | None = None
    varTransTimeUl: float | None = None
    downlinkVolume: Volume | None = None
    avgTransTimeDl: Uinteger | None = None
    varTransTimeDl: float | None = None
