"""CAPIF-style OAuth2 client credentials (TS 29.222 / TS 33.122): HS256 JWT tokens, scoped per apiName.

A token's subject is the afId its client acts as; the scope lists the APIs it may call, written the
OpenCAPIF way: ``3gpp#<aefId>:<apiName>[,<apiName>...]``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, Request
from fastapi.openapi.models import OAuthFlowClientCredentials, OAuthFlows
from fastapi.security import OAuth2

from flcore.problem import ProblemError
from nef_mock.settings import API_NAMES, NefSettings

REALM = "fl5g-nef"
TOKEN_PATH = "/capif-security/v1/securities/{securityId}/token"

oauth2_scheme = OAuth2(
    flows=OAuthFlows(clientCredentials=OAuthFlowClientCredentials(tokenUrl=TOKEN_PATH, scopes={})),
    scheme_name="oAuth2ClientCredentials",
    auto_error=False,
)


class TokenError(Exception):
    """A token request refused with an OAuth2 ``AccessTokenErr``."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


@dataclass(frozen=True)
class Principal:
    """Who called: the verified claims of a bearer token."""

    client_id: str
    af_id: str
    apis: frozenset[str]
    jti: str
    exp: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def parse_scope(scope: str, aef_id: str) -> set[str]:
    """``3gpp#aef:api1,api2 [3gpp#aef:api3]`` (also ``;``-separated, or bare apiNames) -> apiNames."""
    apis: set[str] = set()
    for entry in scope.replace(";", " ").split():
        body = entry.removeprefix("3gpp#")
        if ":" in body:
            aef, _, names = body.partition(":")
            if aef != aef_id:
                raise TokenError(
                    400, "invalid_scope", f"unknown aefId {aef!r} in scope (this AEF is {aef_id!r})"
                )
        else:
            names = body
        for name in filter(None, names.split(",")):
            if name not in API_NAMES:
                raise TokenError(400, "invalid_scope", f"unknown apiName {name!r} in scope")
            apis.add(name)
    return apis


class TokenService:
    """Issues, verifies and revokes access tokens."""

    def __init__(self, settings: NefSettings, clock: Callable[[], float] = time.time) -> None:
        self._settings = settings
        self._key = settings.token_secret.get_secret_value().encode()
        self._clock = clock
        self._revoked_jti: dict[str, int] = {}
        self._revoked_before: dict[str, float] = {}

    def format_scope(self, apis: set[str] | frozenset[str]) -> str:
        return f"3gpp#{self._settings.aef_id}:{','.join(sorted(apis))}"

    def issue(self, security_id: str, form: dict[str, str]) -> dict[str, Any]:
        """Answer a client-credentials request with an ``AccessTokenRsp`` body, or raise TokenError."""
        if form.get("grant_type") != "client_credentials":
            if "grant_type" not in form:
                raise TokenError(400, "invalid_request", "grant_type is required")
            raise TokenError(400, "unsupported_grant_type", "only grant_type=client_credentials is supported")
        client_id = form.get("client_id")
        if not client_id:
            raise TokenError(400, "invalid_request", "client_id is required")
        client = self._settings.clients.get(client_id)
        # Compare against a dummy secret for unknown clients too, so timing does not reveal client ids.
        expected = client.secret.get_secret_value() if client else secrets.token_hex(16)
        given = form.get("client_secret", "")
        if not hmac.compare_digest(expected.encode(), given.encode()) or client is None:
            raise TokenError(401, "invalid_client", "unknown client or wrong client_secret")
        if security_id != client_id:
            raise TokenError(400, "invalid_request", "securityId must be the API invoker's client_id")
        allowed = set(client.apis)
        wanted = parse_scope(form["scope"], self._settings.aef_id) if form.get("scope") else allowed
        if not wanted or not wanted <= allowed:
            raise TokenError(
                400, "invalid_scope", f"scope not granted to {client_id}: {sorted(wanted - allowed)}"
            )
        now = int(self._clock())
        ttl = self._settings.token_ttl_s
        claims = {
            "iss": self._settings.token_issuer,
            "sub": client.af_id,
            "client_id": client_id,
            "scope": self.format_scope(wanted),
            "iat": now,
            "exp": now + ttl,
            "jti": secrets.token_hex(12),
        }
        return {
            "access_token": self._encode(claims),
            "token_type": "Bearer",
            "expires_in": ttl,
            "scope": claims["scope"],
        }

    def _encode(self, claims: dict[str, Any]) -> str:
        head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
        body = _b64(json.dumps(claims, separators=(",", ":")).encode())
        sig = hmac.new(self._key, f"{head}.{body}".encode(), hashlib.sha256).digest()
        return f"{head}.{body}.{_b64(sig)}"

    def verify(self, token: str) -> Principal:
        """Check signature, issuer, expiry and revocation; raise ValueError saying what is wrong."""
        try:
            head_b64, body_b64, sig_b64 = token.split(".")
            header = json.loads(_unb64(head_b64))
            sig = _unb64(sig_b64)
        except (ValueError, TypeError) as exc:
            raise ValueError("malformed token") from exc
        if not isinstance(header, dict) or header.get("alg") != "HS256":
            raise ValueError("unsupported token algorithm")
        expected = hmac.new(self._key, f"{head_b64}.{body_b64}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, sig):
            raise ValueError("bad token signature")
        try:
            claims = json.loads(_unb64(body_b64))
            principal = Principal(
                client_id=str(claims["client_id"]),
                af_id=str(claims["sub"]),
                apis=frozenset(parse_scope(str(claims["scope"]), self._settings.aef_id)),
                jti=str(claims["jti"]),
                exp=int(claims["exp"]),
            )
            iat = float(claims["iat"])
        except (ValueError, KeyError, TypeError, TokenError) as exc:
            raise ValueError("malformed token claims") from exc
        if claims.get("iss") != self._settings.token_issuer:
            raise ValueError("token from another issuer")
        if principal.exp <= self._clock():
            raise ValueError("token expired")
        if principal.jti in self._revoked_jti or iat < self._revoked_before.get(principal.client_id, -1.0):
            raise ValueError("token revoked")
        return principal

    def revoke(self, principal: Principal) -> None:
        self._revoked_jti[principal.jti] = principal.exp
        now = self._clock()
        for jti, exp in list(self._revoked_jti.items()):
            if exp <= now:
                del self._revoked_jti[jti]

    def revoke_invoker(self, client_id: str) -> None:
        """Revoke every token issued to ``client_id`` so far (iat has a one-second grain, hence +1)."""
        self._revoked_before[client_id] = float(int(self._clock()) + 1)


def _unauthorized(detail: str, error: str | None) -> ProblemError:
    challenge = f'Bearer realm="{REALM}"'
    if error:
        challenge += f', error="{error}", error_description="{detail}"'
    return ProblemError(
        401,
        detail,
        cause="UNAUTHORIZED",
        invalid=[("Authorization", detail)],
        headers={"WWW-Authenticate": challenge},
    )


async def bearer_principal(
    request: Request, authorization: str | None = Depends(oauth2_scheme)
) -> Principal | None:
    """The caller's verified token, or None when the NEF runs with auth disabled (dev switch)."""
    settings: NefSettings = request.app.state.settings
    if settings.auth_disabled:
        return None
    if not authorization:
        raise _unauthorized("an access token is required (Authorization: Bearer ...)", None)
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("the Authorization header must carry a Bearer token", "invalid_request")
    tokens: TokenService = request.app.state.tokens
    try:
        return tokens.verify(token.strip())
    except ValueError as exc:
        raise _unauthorized(str(exc), "invalid_token") from None


def require_api(api_name: str) -> Callable[..., Awaitable[Principal | None]]:
    """Dependency: a token scoped for ``api_name`` whose subject owns the path's afId / scsAsId."""

    async def check(
        request: Request, principal: Principal | None = Depends(bearer_principal)
    ) -> Principal | None:
        if principal is None:
            return None
        if api_name not in principal.apis:
            scope = f"3gpp#{request.app.state.settings.aef_id}:{api_name}"
            raise ProblemError(
                403,
                f"the token's scope does not cover {api_name}",
                cause="INSUFFICIENT_SCOPE",
                invalid=[("Authorization", f"scope lacks {scope}")],
                headers={
                    "WWW-Authenticate": f'Bearer realm="{REALM}", error="insufficient_scope", scope="{scope}"'
                },
            )
        for name in ("scsAsId", "afId"):
            owner = request.path_params.get(name)
            if owner is not None and owner != principal.af_id:
                raise ProblemError(
                    403,
                    f"{name} {owner!r} does not match the token's subject",
                    cause="FORBIDDEN",
                    invalid=[(name, f"must be {principal.af_id!r} for this token")],
                )
        return principal

    return check
