"""Who may call what: UE bearer tokens bound to one GPSI, operator tokens with a role."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Literal

from af_server.settings import AfSettings
from af_server.store import Store
from flcore.problem import ProblemError

Role = Literal["read", "write"]


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def bearer(header: str | None) -> str:
    if not header:
        raise ProblemError(
            401,
            "missing bearer token",
            cause="UNAUTHORIZED",
            invalid=[("Authorization", "absent")],
            headers={"WWW-Authenticate": 'Bearer realm="fl5g-af"'},
        )
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ProblemError(
            401,
            "Authorization must be 'Bearer <token>'",
            cause="UNAUTHORIZED",
            invalid=[("Authorization", "not a bearer token")],
            headers={"WWW-Authenticate": 'Bearer realm="fl5g-af", error="invalid_request"'},
        )
    return token.strip()


def _in(token: str, allowed: list[str]) -> bool:
    # compare fixed-length digests against every entry, so the time taken says nothing about which
    # entry matched, nor about the length of any of them
    probe = hashlib.sha256(token.encode()).digest()
    found = False
    for candidate in allowed:
        found |= hmac.compare_digest(probe, hashlib.sha256(candidate.encode()).digest())
    return found


def operator_role(settings: AfSettings, header: str | None, need: Role) -> Role:
    token = bearer(header)
    if _in(token, settings.operator_write_tokens):
        return "write"
    if _in(token, settings.operator_read_tokens):
        if need == "write":
            raise ProblemError(403, "this operator token may only read", cause="INSUFFICIENT_ROLE")
        return "read"
    raise ProblemError(
        401,
        "unknown operator token",
        cause="INVALID_TOKEN",
        headers={"WWW-Authenticate": 'Bearer realm="fl5g-af", error="invalid_token"'},
    )


def check_enrollment(settings: AfSettings, key: str | None) -> None:
    if not key or not _in(key, settings.ue_enrollment_keys):
        raise ProblemError(
            401,
            "a valid enrollment key is required to register a UE",
            cause="UNAUTHORIZED",
            invalid=[("Fl5g-Enrollment-Key", "absent or unknown")],
        )


@dataclass(frozen=True)
class UePrincipal:
    gpsi: str
    expires_at: float


async def issue_ue_token(store: Store, gpsi: str, ttl_s: int) -> str:
    token = secrets.token_urlsafe(32)
    await store.put_token(digest(token), {"sub": gpsi, "kind": "ue", "exp": time.time() + ttl_s}, ttl_s)
    return token


async def ue_principal(store: Store, header: str | None) -> UePrincipal:
    token = bearer(header)
    claims = await store.get_token(digest(token))
    if not claims or claims.get("kind") != "ue" or float(claims.get("exp", 0)) < time.time():
        raise ProblemError(
            401,
            "unknown, expired or revoked UE token",
            cause="INVALID_TOKEN",
            headers={"WWW-Authenticate": 'Bearer realm="fl5g-af", error="invalid_token"'},
        )
    return UePrincipal(str(claims["sub"]), float(claims["exp"]))
