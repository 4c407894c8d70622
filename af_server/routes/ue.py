"""UE-facing API: register, get the task, download the global model, upload an update."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Path, Query, Request, Response

from af_server.auth import issue_ue_token
from af_server.deps import EnrolledDep, LeaderDep, MetricsDep, SettingsDep, StoreDep, UeDep
from af_server.limits import ByteBudget
from af_server.schemas import Task, UeRegistration, UeToken
from flcore.problem import PROBLEM_RESPONSES, ProblemError
from flcore.wire import SAFETENSORS

router = APIRouter(prefix="/af/v1", tags=["ue"], responses=PROBLEM_RESPONSES)


@router.post("/ues", status_code=201, response_model=UeToken)
async def register_ue(
    reg: UeRegistration,
    response: Response,
    settings: SettingsDep,
    store: StoreDep,
    _: EnrolledDep,
) -> UeToken:
    """Register (or re-register) a UE by its GPSI; returns a bearer token bound to that GPSI."""
    now = time.time()
    fields: dict[str, object] = {
        "gpsi": reg.gpsi,
        "num_samples": reg.num_samples,
        "profile": reg.compute_profile,
        "registered_at": now,
        "last_seen": now,
    }
    if "seconds_per_step" in reg.compute_profile:
        fields["seconds_per_step"] = reg.compute_profile["seconds_per_step"]
    if reg.energy_profile is not None:
        fields["energy_profile"] = reg.energy_profile.model_dump()
    # a new profile (or none) makes what the AF calibrated against the old one meaningless
    drop = ["energy_ratio"] + (["energy_profile"] if reg.energy_profile is None else [])
    await store.put_ue(reg.gpsi, fields, drop=drop)
    token = await issue_ue_token(store, reg.gpsi, settings.ue_token_ttl_s)
    response.headers["Location"] = f"/af/v1/ues/{reg.gpsi}"
    return UeToken(gpsi=reg.gpsi, token=token, expires_in=settings.ue_token_ttl_s)


@router.get("/ue/task", response_model=Task, responses={204: {"description": "no task for this UE now"}})
async def get_task(
    ue: UeDep,
    coord: LeaderDep,
    store: StoreDep,
    settings: SettingsDep,
    wait: Annotated[float, Query(ge=0, le=60, description="long-poll for up to this many seconds")] = 0.0,
) -> Task | Response:
    """The UE's task in an open iteration; long-polls until one opens or ``wait`` passes."""
    await store.touch_ue(ue.gpsi, last_seen=time.time())
    task = await coord.wait_task(ue.gpsi, min(wait, settings.long_poll_max_s))
    if task is None:
        return Response(status_code=204)
    return task


@router.get(
    "/jobs/{job_id}/model",
    response_class=Response,
    responses={200: {"content": {SAFETENSORS: {}}}, 304: {"description": "the UE holds this version"}},
)
async def download_model(
    job_id: str,
    _ue: UeDep,
    coord: LeaderDep,
    metrics: MetricsDep,
    if_none_match: Annotated[str | None, Header()] = None,
    codec: Annotated[
        Literal["none", "int8", "topk"] | None,
        Query(
            description="int8: the 8-bit model of TR 22.874 (a quarter of fp32); default: the full state; "
            "with base: the delta codec (int8 or topk)"
        ),
    ] = None,
    base: Annotated[
        int | None,
        Query(
            ge=0,
            description="the version the UE holds: answer a delta from it (Fl5g-Delta-Base), or the "
            "full model when the UE is too far behind",
        ),
    ] = None,
) -> Response:
    """The global model as a safetensors body, its version in the ETag; or a delta from ``base``."""
    model = coord.model_for_download(job_id)
    headers = {"Fl5g-Model-Version": str(model.version)}
    if base is not None:
        if codec not in ("int8", "topk"):
            raise ProblemError(400, "a delta needs codec int8 or topk", invalid=[("codec", "int8 or topk")])
        if base == model.version:
            return Response(status_code=304, headers=headers | {"ETag": model.etag})
        delta = await asyncio.to_thread(coord.downlink_delta, job_id, base, codec)
        if delta is not None:
            metrics.transfer_bytes.labels("dl").inc(len(delta))
            headers |= {"Fl5g-Delta-Base": str(base), "Content-Length": str(len(delta))}
            return Response(delta, media_type=SAFETENSORS, headers=headers)
        codec = None  # too far behind: the full model
    etag = model.etag if codec is None else f'{model.etag[:-1]}-{codec}"'
    headers["ETag"] = etag
    if if_none_match == etag:
        return Response(status_code=304, headers=headers)
    body = model.wire() if codec is None else await asyncio.to_thread(model.coded, codec)
    metrics.transfer_bytes.labels("dl").inc(len(body))
    headers["Content-Length"] = str(len(body))
    # one send of the cached bytes: no per-chunk overhead, no copy (uvicorn writes the buffer as it is)
    return Response(body, media_type=SAFETENSORS, headers=headers)


@router.post(
    "/jobs/{job_id}/rounds/{round_no}/updates",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {SAFETENSORS: {"schema": {"type": "string", "format": "binary"}}},
        },
        "parameters": [
            {"name": "Fl5g-Num-Samples", "in": "header", "required": True, "schema": {"type": "integer"}},
            {
                "name": "Fl5g-Download-Seconds",
                "in": "header",
                "required": False,
                "schema": {"type": "number"},
            },
            {"name": "Fl5g-Compute-Seconds", "in": "header", "required": False, "schema": {"type": "number"}},
            {"name": "Fl5g-Train-Loss", "in": "header", "required": False, "schema": {"type": "number"}},
            {"name": "Fl5g-Base-Version", "in": "header", "required": False, "schema": {"type": "integer"}},
            {"name": "Fl5g-Energy-Joules", "in": "header", "required": False, "schema": {"type": "number"}},
        ],
    },
)
async def upload_update(
    job_id: str,
    round_no: Annotated[int, Path(ge=0, le=2**31 - 1)],
    request: Request,
    ue: UeDep,
    coord: LeaderDep,
    store: StoreDep,
    settings: SettingsDep,
) -> dict[str, object]:
    """A UE's update for one iteration: the caller's own, once, while the iteration is open."""
    row = await store.get_ue(ue.gpsi)
    if row is None:
        raise ProblemError(403, f"{ue.gpsi} is not registered", cause="UE_NOT_REGISTERED")
    declared = request.headers.get("content-length", "")
    size = min(int(declared), settings.max_upload_bytes) if declared.isdigit() else 0
    budget: ByteBudget = request.app.state.upload_budget
    async with budget.hold(size):  # memory for bodies in flight stays within AF_UPLOAD_BUFFER_BYTES
        return await coord.accept_upload(
            job_id,
            round_no,
            ue.gpsi,
            request.headers,
            request.stream(),
            max_samples=int(row.get("num_samples", 1)),
        )
