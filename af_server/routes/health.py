"""Probes and metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from af_server.deps import CoordinatorDep, MetricsDep, StoreDep
from flcore.problem import ProblemError

router = APIRouter(tags=["health"])


@router.get("/livez")
async def livez() -> dict[str, str]:
    return {"status": "alive"}


@router.get("/readyz")
async def readyz(store: StoreDep, coord: CoordinatorDep) -> dict[str, object]:
    """Ready when Redis answers and this replica coordinates rounds (a standby is not ready)."""
    try:
        redis_ok = await store.ping()
    except Exception:
        redis_ok = False
    if not redis_ok:
        raise ProblemError(503, "redis is unreachable", cause="REDIS_UNAVAILABLE")
    if not coord.is_leader:
        raise ProblemError(503, "standby replica: another AF holds the coordinator lock", cause="STANDBY")
    return {"status": "ready", "role": "coordinator", "owner": coord.owner}


@router.get("/metrics", include_in_schema=False)
async def metrics(m: MetricsDep) -> Response:
    return Response(generate_latest(m.registry), media_type=CONTENT_TYPE_LATEST)
