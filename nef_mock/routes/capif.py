"""CAPIF security API subset (TS 29.222 ``capif-security``): the client-credentials token endpoint and
revocation of an API invoker's authorization.

Token errors are ``AccessTokenErr`` bodies (OAuth2 / TS 29.222), not ProblemDetails: that is what
the spec prescribes for this endpoint. Revocation errors are ProblemDetails as everywhere else.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from flcore.problem import PROBLEM_RESPONSES, ProblemError
from nef_mock.auth import Principal, TokenError, TokenService, bearer_principal
from nef_mock.models.capif import AccessTokenErr, AccessTokenRsp, SecurityNotification
from nef_mock.routes.common import operation_id_by_name

# operationIds as in the 3GPP YAMLs where they have one (and unique within this document).
OPERATION_IDS = {
    "token": "ObtainAccessToken",
    "revoke": "RevokeInvokerAuthorization",
}

router = APIRouter(
    prefix="/capif-security/v1",
    tags=["capif-security"],
    generate_unique_id_function=operation_id_by_name(OPERATION_IDS),
)
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
TOKEN_REQUEST = {
    "required": True,
    "content": {
        "application/x-www-form-urlencoded": {
            "schema": {
                "title": "AccessTokenReq",
                "type": "object",
                "properties": {
                    "grant_type": {"type": "string", "enum": ["client_credentials"]},
                    "client_id": {"type": "string"},
                    "client_secret": {"type": "string"},
                    "scope": {
                        "type": "string",
                        "example": "3gpp#aef-nef-01:3gpp-analyticsexposure,3gpp-musa",
                    },
                },
                "required": ["grant_type", "client_id"],
            }
        }
    },
}


def _token_error(exc: TokenError) -> JSONResponse:
    headers = dict(NO_STORE)
    if exc.status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="fl5g-nef"'
    body = AccessTokenErr(error=exc.error, error_description=exc.description).to_json()
    return JSONResponse(body, status_code=exc.status, headers=headers)


@router.post(
    "/securities/{securityId}/token",
    response_model=AccessTokenRsp,
    responses={
        400: {"model": AccessTokenErr, "description": "Error in the access token request"},
        401: {"model": AccessTokenErr, "description": "Unauthorized"},
    },
    openapi_extra={"requestBody": TOKEN_REQUEST},
)
async def token(securityId: str, request: Request) -> JSONResponse:
    """OAuth2 client credentials: a Bearer JWT whose scope lists the apiNames it opens."""
    tokens: TokenService = request.app.state.tokens
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return _token_error(
            TokenError(400, "invalid_request", "the body must be application/x-www-form-urlencoded")
        )
    raw = (await request.body()).decode("utf-8", errors="replace")
    form = dict(parse_qsl(raw, keep_blank_values=True))
    try:
        return JSONResponse(tokens.issue(securityId, form), headers=NO_STORE)
    except TokenError as exc:
        return _token_error(exc)


@router.post(
    "/trustedInvokers/{apiInvokerId}/delete",
    status_code=204,
    response_class=Response,
    responses={k: v for k, v in PROBLEM_RESPONSES.items() if k in (400, 401, 403, 404)},
)
async def revoke(
    apiInvokerId: str,
    body: SecurityNotification,
    request: Request,
    principal: Principal | None = Depends(bearer_principal),
) -> Response:
    """Revoke every token issued to an API invoker so far (an invoker may revoke only itself)."""
    if body.apiInvokerId != apiInvokerId:
        raise ProblemError(
            400, "apiInvokerId differs from the path", invalid=[("/apiInvokerId", "must match path")]
        )
    if principal is not None and principal.client_id != apiInvokerId:
        raise ProblemError(
            403, "an API invoker may revoke only its own authorization", invalid=[("apiInvokerId", "")]
        )
    tokens: TokenService = request.app.state.tokens
    if apiInvokerId not in request.app.state.settings.clients:
        raise ProblemError(
            404, f"unknown API invoker {apiInvokerId!r}", invalid=[("apiInvokerId", "unknown")]
        )
    tokens.revoke_invoker(apiInvokerId)
    return Response(status_code=204)
