"""Operator API: create, list, inspect and stop FL jobs; read per-round records; revoke UE tokens."""

from __future__ import annotations

import time
import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Response

from af_server.deps import CoordinatorDep, ReaderDep, StoreDep, WriterDep
from af_server.schemas import JobSpec, JobState, RoundRecord
from af_server.store import Store
from flcore.problem import PROBLEM_RESPONSES, ProblemError

router = APIRouter(prefix="/af/v1", tags=["operator"], responses=PROBLEM_RESPONSES)

JobId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="job id")]
RoundNo = Annotated[int, Path(ge=0, le=2**31 - 1, description="iteration number, from 0")]


def _no_job(job_id: str) -> ProblemError:
    return ProblemError(404, f"no FL job {job_id}", cause="JOB_NOT_FOUND", invalid=[("jobId", "unknown")])


async def _job(store: Store, job_id: str) -> JobState:
    job = await store.get_job(job_id)
    if job is None:
        raise _no_job(job_id)
    return job


@router.post("/jobs", status_code=201, response_model=JobState)
async def create_job(
    spec: JobSpec, response: Response, _: WriterDep, store: StoreDep, coord: CoordinatorDep
) -> JobState:
    now = time.time()
    job = JobState(id=uuid.uuid4().hex[:12], spec=spec, created_at=now, updated_at=now)
    await store.put_job(job)
    coord.poke()
    response.headers["Location"] = f"/af/v1/jobs/{job.id}"
    return job


@router.get("/jobs", response_model=list[JobState])
async def list_jobs(_: ReaderDep, store: StoreDep) -> list[JobState]:
    return await store.jobs()


@router.get("/jobs/{job_id}", response_model=JobState)
async def get_job(job_id: JobId, _: ReaderDep, store: StoreDep) -> JobState:
    return await _job(store, job_id)


@router.get("/jobs/{job_id}/rounds", response_model=list[RoundRecord])
async def list_rounds(job_id: JobId, _: ReaderDep, store: StoreDep) -> list[RoundRecord]:
    await _job(store, job_id)
    return await store.rounds(job_id)


@router.get("/jobs/{job_id}/rounds/{round_no}", response_model=RoundRecord)
async def get_round(job_id: JobId, round_no: RoundNo, _: ReaderDep, store: StoreDep) -> RoundRecord:
    await _job(store, job_id)
    found = await store.rounds(job_id, round_no, round_no)
    if not found:
        raise ProblemError(
            404,
            f"job {job_id} has no completed round {round_no}",
            cause="ROUND_NOT_FOUND",
            invalid=[("roundNo", "not completed")],
        )
    return found[0]


@router.post("/jobs/{job_id}/stop", response_model=JobState)
async def stop_job(job_id: JobId, _: WriterDep, store: StoreDep, coord: CoordinatorDep) -> JobState:
    job = await store.stop_job(job_id)  # atomic: a round committed meanwhile is kept
    if job is None:
        raise _no_job(job_id)
    coord.poke()
    return job


@router.delete("/ues/{gpsi}/tokens", status_code=204)
async def revoke_ue(gpsi: str, _: WriterDep, store: StoreDep) -> Response:
    """Revoke every token of a UE: it must register again."""
    await store.revoke_ue_tokens(gpsi)
    return Response(status_code=204)
