"""Typed dependencies: the app's resources and the caller's identity."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from af_server.auth import Role, UePrincipal, operator_role, ue_principal
from af_server.coordinator import Coordinator
from af_server.metrics import Metrics
from af_server.settings import AfSettings
from af_server.store import Store
from flcore.problem import ProblemError


def get_settings(request: Request) -> AfSettings:
    return request.app.state.settings  # type: ignore[no-any-return]


def get_store(request: Request) -> Store:
    return request.app.state.store  # type: ignore[no-any-return]


def get_metrics(request: Request) -> Metrics:
    return request.app.state.metrics  # type: ignore[no-any-return]


def get_coordinator(request: Request) -> Coordinator:
    coord: Coordinator = request.app.state.coordinator
    return coord


def leader(request: Request) -> Coordinator:
    coord = get_coordinator(request)
    if not coord.is_leader:
        raise ProblemError(
            503,
            "this AF replica is a standby; retry (the coordinator answers)",
            cause="NOT_COORDINATOR",
            headers={"Retry-After": "1"},
        )
    return coord


SettingsDep = Annotated[AfSettings, Depends(get_settings)]
StoreDep = Annotated[Store, Depends(get_store)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
CoordinatorDep = Annotated[Coordinator, Depends(get_coordinator)]
LeaderDep = Annotated[Coordinator, Depends(leader)]


async def current_ue(request: Request, authorization: Annotated[str | None, Header()] = None) -> UePrincipal:
    return await ue_principal(get_store(request), authorization)


def reader(request: Request, authorization: Annotated[str | None, Header()] = None) -> Role:
    return operator_role(get_settings(request), authorization, "read")


def writer(request: Request, authorization: Annotated[str | None, Header()] = None) -> Role:
    return operator_role(get_settings(request), authorization, "write")


UeDep = Annotated[UePrincipal, Depends(current_ue)]
ReaderDep = Annotated[Role, Depends(reader)]
WriterDep = Annotated[Role, Depends(writer)]
