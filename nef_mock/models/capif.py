"""TS 29.222 CAPIF security API schemas: the access token response and error."""

from __future__ import annotations

from pydantic import Field

from nef_mock.models.common import ApiModel, DurationSec, Str


class AccessTokenRsp(ApiModel):
    access_token: Str = Field(description="JWS compact serialisation of AccessTokenClaims (HS256)")
    token_type: Str = Field(description="Bearer")
    expires_in: DurationSec
    scope: Str | None = None


class AccessTokenErr(ApiModel):
    error: Str = Field(
        description="invalid_request, invalid_client, invalid_grant, unauthorized_client, "
        "unsupported_grant_type, invalid_scope"
    )
    error_description: Str | None = None
    error_uri: Str | None = None


class SecurityNotification(ApiModel):
    """Revocation of an API invoker's authorization."""

    apiInvokerId: Str
    aefId: Str | None = None
    apiIds: list[Str] | None = None
    cause: Str | None = Field(default=None, description="OVERLIMIT_USAGE, UNEXPECTED_REASON")
