"""Typed dependencies: the app's resources and the caller's identity."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from af_server.auth import Role, UePrincipal, check_enrollment, operator_role, ue_principal
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


# The schemes document who may call what (openapi/af.yaml ``securitySchemes``); the checks themselves
# read the raw header, so a missing or malformed one gets a ProblemDetails naming it.
OPERATOR_SCHEME = HTTPBearer(
    auto_error=False,
    scheme_name="operatorToken",
    description="an operator token (AF_OPERATOR_WRITE_TOKENS: read and write; AF_OPERATOR_READ_TOKENS: read)",
)
UE_SCHEME = HTTPBearer(
    auto_error=False,
    scheme_name="ueToken",
    description="the token a UE got at registration: bound to its GPSI, expires, revocable",
)
ENROLLMENT_SCHEME = APIKeyHeader(
    name="Fl5g-Enrollment-Key",
    auto_error=False,
    scheme_name="enrollmentKey",
    description="one of AF_UE_ENROLLMENT_KEYS, shown once to register",
)
Credentials = HTTPAuthorizationCredentials | None


async def current_ue(request: Request, _: Annotated[Credentials, Security(UE_SCHEME)]) -> UePrincipal:
    return await ue_principal(get_store(request), request.headers.get("authorization"))


def reader(request: Request, _: Annotated[Credentials, Security(OPERATOR_SCHEME)]) -> Role:
    return operator_role(get_settings(request), request.headers.get("authorization"), "read")


def writer(request: Request, _: Annotated[Credentials, Security(OPERATOR_SCHEME)]) -> Role:
    return operator_role(get_settings(request), request.headers.get("authorization"), "write")


def enrolled(request: Request, key: Annotated[str | None, Security(ENROLLMENT_SCHEME)]) -> None:
    check_enrollment(get_settings(request), key)


UeDep = Annotated[UePrincipal, Depends(current_ue)]
ReaderDep = Annotated[Role, Depends(reader)]
WriterDep = Annotated[Role, Depends(writer)]
EnrolledDep = Annotated[None, Depends(enrolled)]
