"""This NEF's ``qosReference`` catalogue (TS 29.122 leaves it to the operator), served at
``/nef/v1/qos-references``: not a 3GPP API, so an AF can see what ``qosReference`` values mean here."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from nef_mock.models.qos import QosReference
from nef_mock.routes.common import NefState, nef, operation_id_by_name

KEYS = ("qosReference", "5qi", "resType", "gfbrUl", "gfbrDl", "mbrUl", "mbrDl", "pdb", "description")
# 5QI 71 is the Rel-16 GBR class for live uplink streaming; 4 is GBR non-conversational video.
ENTRIES: tuple[tuple[Any, ...], ...] = (
    ("fl-ul-boost", 71, "GBR", "1 Gbps", "100 Mbps", "4 Gbps", "1 Gbps", 150, "FL update upload boost"),
    ("fl-ul-boost-max", 71, "GBR", "2.5 Gbps", "100 Mbps", "6.5 Gbps", "1 Gbps", 150, "FL upload, FR2 only"),
    ("fl-fr2-uplink-6g5", 71, "GBR", "6.5 Gbps", None, "6.5 Gbps", None, 150, "TR 22.874: 132 MB in 162 ms"),
    ("fl-fr2-uplink-20g", 71, "GBR", "20.3 Gbps", None, "20.3 Gbps", None, 150, "TR 22.874: 132 MB in 52 ms"),
    ("fl-dl-boost", 4, "GBR", "10 Mbps", "1 Gbps", "100 Mbps", "4 Gbps", 300, "FL model download boost"),
    ("best-effort", 9, "NON_GBR", None, None, None, None, 300, "default bearer, no guarantee"),
)


def default_catalogue() -> dict[str, dict[str, Any]]:
    """qosReference -> its QoS parameters (BitRate strings, PDB in ms)."""
    return {e[0]: {k: v for k, v in zip(KEYS, e, strict=True) if v is not None} for e in ENTRIES}


router = APIRouter(
    prefix="/nef/v1",
    tags=["nef"],
    generate_unique_id_function=operation_id_by_name({"qos_references": "ReadQosReferences"}),
)


@router.get("/qos-references", response_model=list[QosReference])
async def qos_references(state: NefState = Depends(nef)) -> JSONResponse:
    """The qosReference values this NEF understands (not a 3GPP API: the catalogue is operator-defined)."""
    return JSONResponse(list(state.qos_catalogue.values()))
