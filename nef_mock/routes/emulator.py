"""Emulator API (``/emulator/v1``): attach UEs, read their links, inject faults, account transfers.

Not a 3GPP API: UE agents and tests use it to share the radio model the NEF exposes northbound.
Contract: docs/interfaces.md, "Emulator API".
"""

from __future__ import annotations

import re
from typing import Literal

from fastapi import APIRouter, Body, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from flcore.problem import PROBLEM_RESPONSES, ProblemError
from nef_mock.radio import InvalidInput, LinkState, RadioModel

router = APIRouter(
    prefix="/emulator/v1",
    tags=["emulator"],
    responses={k: v for k, v in PROBLEM_RESPONSES.items() if k in (400, 404, 500)},
)

GPSI = re.compile(r"^(msisdn-[0-9]{5,15}|extid-[^@]+@[^@]+)$")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AttachRequest(_Body):
    mobility: Literal["static", "pedestrian", "vehicle"] | None = None
    position: tuple[float, float] | None = None


class OverrideRequest(_Body):
    """Absent fields stay as they are; ``null`` gives that part back to the model."""

    connected: bool | None = None
    blocked: bool | None = None
    ulRateBps: float | None = Field(default=None, ge=0)  # noqa: N815 (contract name)
    dlRateBps: float | None = Field(default=None, ge=0)  # noqa: N815


class TransferRequest(_Body):
    gpsi: str
    direction: Literal["UL", "DL"]
    bytes: int = Field(ge=0)


class UeLink(BaseModel):
    gpsi: str
    connected: bool
    band: Literal["FR1", "FR2"] | None
    cellId: str | None  # noqa: N815
    position: tuple[float, float]
    mobility: str
    blocked: bool
    ulRateBps: float  # noqa: N815
    dlRateBps: float  # noqa: N815
    sinrUlDb: float  # noqa: N815
    sinrDlDb: float  # noqa: N815
    modelTime: float  # noqa: N815


class Transfer(BaseModel):
    transferId: str  # noqa: N815
    gpsi: str
    direction: Literal["UL", "DL"]
    bytes: int
    rateBps: float  # noqa: N815
    cellId: str | None  # noqa: N815


class Cell(BaseModel):
    cellId: str  # noqa: N815
    band: Literal["FR1", "FR2"]
    activeUl: int  # noqa: N815
    activeDl: int  # noqa: N815
    ues: int


def radio(request: Request) -> RadioModel:
    state = request.app.state
    model = getattr(state, "radio", None)
    if model is None and hasattr(state, "nef"):
        model = state.nef.radio
    if not isinstance(model, RadioModel):
        raise ProblemError(503, "the radio model is not ready", cause="SERVICE_UNAVAILABLE")
    return model


def ue_link(link: LinkState) -> UeLink:
    return UeLink(
        gpsi=link.gpsi,
        connected=link.connected,
        band=link.band,
        cellId=link.cell_id,
        position=link.position,
        mobility=link.mobility,
        blocked=link.blocked,
        ulRateBps=link.ul_rate_bps,
        dlRateBps=link.dl_rate_bps,
        sinrUlDb=link.sinr_ul_db,
        sinrDlDb=link.sinr_dl_db,
        modelTime=link.model_time,
    )


def _check_gpsi(gpsi: str, pointer: str) -> str:
    if not GPSI.match(gpsi):
        raise ProblemError(
            400,
            f"{gpsi!r} is not a GPSI",
            invalid=[(pointer, "expected msisdn-<digits> or extid-<id>@<domain>")],
        )
    return gpsi


def _unknown_ue(gpsi: str, pointer: str) -> ProblemError:
    return ProblemError(
        404,
        f"UE {gpsi} is not attached to the radio model",
        cause="USER_NOT_FOUND",
        invalid=[(pointer, "unknown UE")],
    )


def _unknown_transfer(transfer_id: str) -> ProblemError:
    return ProblemError(404, f"no transfer {transfer_id}", cause="TRANSFER_NOT_FOUND")


def _bad_input(exc: InvalidInput, pointers: dict[str, str]) -> ProblemError:
    return ProblemError(400, str(exc), invalid=[(pointers.get(exc.field, "/" + exc.field), exc.reason)])


@router.put(
    "/ues/{gpsi}", response_model=UeLink, responses={201: {"model": UeLink, "description": "attached"}}
)
def attach(
    request: Request, response: Response, gpsi: str, body: AttachRequest | None = Body(default=None)
) -> UeLink:
    """Attach a UE (idempotent: 200 with the link of a known UE, 201 for a new one)."""
    model = radio(request)
    _check_gpsi(gpsi, "gpsi")
    req = body or AttachRequest()
    new = not model.known(gpsi)
    try:
        link = model.attach(gpsi, req.mobility, req.position)
    except InvalidInput as exc:
        raise _bad_input(exc, {"position": "/position", "mobility": "/mobility"}) from None
    response.status_code = 201 if new else 200
    return ue_link(link)


@router.get("/ues", response_model=list[UeLink])
def list_ues(request: Request) -> list[UeLink]:
    return [ue_link(link) for link in radio(request).links()]


@router.get("/ues/{gpsi}", response_model=UeLink)
def get_ue(request: Request, gpsi: str) -> UeLink:
    _check_gpsi(gpsi, "gpsi")
    try:
        return ue_link(radio(request).link(gpsi))
    except KeyError:
        raise _unknown_ue(gpsi, "gpsi") from None


@router.put("/ues/{gpsi}/override", response_model=UeLink)
def override(request: Request, gpsi: str, body: OverrideRequest) -> UeLink:
    """Fault injection: force connection, blockage or rates of one UE."""
    _check_gpsi(gpsi, "gpsi")
    given = body.model_fields_set
    fields = {
        "connected": ("connected", body.connected),
        "blocked": ("blocked", body.blocked),
        "ulRateBps": ("ul_rate_bps", body.ulRateBps),
        "dlRateBps": ("dl_rate_bps", body.dlRateBps),
    }
    kwargs = {name: value for key, (name, value) in fields.items() if key in given}
    try:
        return ue_link(radio(request).override(gpsi, **kwargs))  # type: ignore[arg-type]
    except KeyError:
        raise _unknown_ue(gpsi, "gpsi") from None
    except InvalidInput as exc:
        raise _bad_input(exc, {"ul_rate_bps": "/ulRateBps", "dl_rate_bps": "/dlRateBps"}) from None


def _transfer(model: RadioModel, transfer_id: str) -> Transfer:
    try:
        t = model.transfer(transfer_id)
    except KeyError:
        raise _unknown_transfer(transfer_id) from None
    return Transfer(
        transferId=t.transfer_id,
        gpsi=t.gpsi,
        direction=t.direction,
        bytes=t.nbytes,
        rateBps=t.rate_bps,
        cellId=t.cell_id,
    )


@router.post("/transfers", response_model=Transfer, status_code=201)
def begin_transfer(request: Request, response: Response, body: TransferRequest) -> Transfer:
    """Start a transfer: it shares the UE's cell until deleted."""
    model = radio(request)
    _check_gpsi(body.gpsi, "/gpsi")
    try:
        tid = model.begin_transfer(body.gpsi, body.direction, body.bytes)
    except KeyError:
        raise _unknown_ue(body.gpsi, "/gpsi") from None
    except InvalidInput as exc:
        raise _bad_input(exc, {"bytes": "/bytes", "direction": "/direction"}) from None
    response.headers["Location"] = str(request.url_for("get_transfer", transfer_id=tid))
    return _transfer(model, tid)


@router.get("/transfers/{transfer_id}", response_model=Transfer)
def get_transfer(request: Request, transfer_id: str) -> Transfer:
    return _transfer(radio(request), transfer_id)


@router.delete("/transfers/{transfer_id}", status_code=204, response_class=Response)
def end_transfer(request: Request, transfer_id: str) -> Response:
    try:
        radio(request).end_transfer(transfer_id)
    except KeyError:
        raise _unknown_transfer(transfer_id) from None
    return Response(status_code=204)


@router.get("/cells", response_model=list[Cell])
def cells(request: Request) -> list[Cell]:
    return [
        Cell(cellId=c.cell_id, band=c.band, activeUl=c.active_ul, activeDl=c.active_dl, ues=c.ues)
        for c in radio(request).cells()
    ]
