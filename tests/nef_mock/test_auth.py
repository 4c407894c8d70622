"""CAPIF client credentials: tokens, scopes, afId binding, expiry, revocation; 401/403 as ProblemDetails."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from nef_mock.settings import DEV_CLIENT_ID, DEV_CLIENT_SECRET
from tests.nef_mock import oracle
from tests.nef_mock.conftest import AF, UE, Nef, running_nef

TOKEN = f"/capif-security/v1/securities/{DEV_CLIENT_ID}/token"
ANALYTICS = f"/3gpp-analyticsexposure/v1/{AF}/subscriptions"
MONITORING = f"/3gpp-monitoring-event/v1/{AF}/subscriptions"


@pytest.fixture
async def secured() -> AsyncIterator[Nef]:
    async with running_nef(fake_clock=True, auth_disabled=False, token_ttl_s=60) as env:
        yield env


async def _token(nef: Nef, **form: str) -> str:
    data = {
        "grant_type": "client_credentials",
        "client_id": DEV_CLIENT_ID,
        "client_secret": DEV_CLIENT_SECRET,
    }
    resp = await nef.client.post(TOKEN, data=data | form)
    assert resp.status_code == 200, resp.text
    oracle.check(oracle.CAPIF, "AccessTokenRsp", resp.json())
    assert resp.headers["cache-control"] == "no-store"
    token: str = resp.json()["access_token"]
    return token


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_token_scope_lists_the_apis(secured: Nef) -> None:
    resp = await secured.client.post(
        TOKEN,
        data={
            "grant_type": "client_credentials",
            "client_id": DEV_CLIENT_ID,
            "client_secret": DEV_CLIENT_SECRET,
            "scope": "3gpp#aef-nef-01:3gpp-analyticsexposure,3gpp-musa",
        },
    )
    assert resp.status_code == 200
    body = resp.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 60
    assert body["scope"] == "3gpp#aef-nef-01:3gpp-analyticsexposure,3gpp-musa"


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        ({"client_secret": "wrong"}, 401, "invalid_client"),
        ({"client_id": "stranger", "client_secret": "x"}, 401, "invalid_client"),
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        ({"scope": "3gpp#other-aef:3gpp-musa"}, 400, "invalid_scope"),
        ({"scope": "3gpp#aef-nef-01:3gpp-traffic-influence"}, 400, "invalid_scope"),
    ],
)
async def test_token_errors_are_access_token_err(
    secured: Nef, form: dict[str, str], status: int, error: str
) -> None:
    data = {
        "grant_type": "client_credentials",
        "client_id": DEV_CLIENT_ID,
        "client_secret": DEV_CLIENT_SECRET,
    }
    resp = await secured.client.post(TOKEN, data=data | form)
    assert resp.status_code == status
    oracle.check(oracle.CAPIF, "AccessTokenErr", resp.json())
    assert resp.json()["error"] == error


async def test_no_token_bad_token_wrong_scope_wrong_af(secured: Nef) -> None:
    # Prepare
    analytics_only = await _token(secured, scope="3gpp#aef-nef-01:3gpp-analyticsexposure")
    good = await _token(secured)
    tampered = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    cases = [
        (MONITORING, {}, 401, "Authorization"),
        (MONITORING, {"Authorization": "Basic Zm9vOmJhcg=="}, 401, "Authorization"),
        (MONITORING, _bearer("not.a.jwt"), 401, "Authorization"),
        (MONITORING, _bearer(tampered), 401, "Authorization"),
        (MONITORING, _bearer(analytics_only), 403, "Authorization"),
        ("/3gpp-monitoring-event/v1/another-af/subscriptions", _bearer(good), 403, "scsAsId"),
        ("/3gpp-musa/v1/another-af/subscriptions", _bearer(good), 403, "afId"),
    ]
    for path, headers, status, param in cases:
        # Execute
        resp = await secured.client.get(path, headers=headers)
        # Assert
        assert resp.status_code == status, (path, headers, resp.text)
        assert resp.headers["content-type"] == "application/problem+json"
        oracle.check(oracle.COMMON, "ProblemDetails", resp.json())
        assert [p["param"] for p in resp.json()["invalidParams"]] == [param]
        if status == 401:
            assert resp.headers["www-authenticate"].startswith('Bearer realm="fl5g-nef"')
    ok = await secured.client.get(ANALYTICS, headers=_bearer(analytics_only))
    assert ok.status_code == 200 and ok.json() == []


async def test_expiry_and_revocation(secured: Nef) -> None:
    # Prepare
    assert secured.clock is not None
    token = await _token(secured)
    assert (await secured.client.get(ANALYTICS, headers=_bearer(token))).status_code == 200
    # Execute / Assert: expiry
    secured.clock.advance(61)
    expired = await secured.client.get(ANALYTICS, headers=_bearer(token))
    assert expired.status_code == 401 and "expired" in expired.json()["detail"]
    assert 'error="invalid_token"' in expired.headers["www-authenticate"]
    # Execute / Assert: revocation of the invoker ends every token issued so far
    token = await _token(secured)
    revoked = await secured.client.post(
        f"/capif-security/v1/trustedInvokers/{DEV_CLIENT_ID}/delete",
        json={"apiInvokerId": DEV_CLIENT_ID, "cause": "UNEXPECTED_REASON"},
        headers=_bearer(token),
    )
    assert revoked.status_code == 204, revoked.text
    after = await secured.client.get(ANALYTICS, headers=_bearer(token))
    assert after.status_code == 401 and "revoked" in after.json()["detail"]
    secured.clock.advance(1)
    fresh = await _token(secured)
    assert (await secured.client.get(ANALYTICS, headers=_bearer(fresh))).status_code == 200


async def test_token_opens_the_api_end_to_end(secured: Nef) -> None:
    token = await _token(secured)
    resp = await secured.client.post(
        MONITORING,
        json={
            "msisdn": UE.removeprefix("msisdn-"),
            "monitoringType": "LOCATION_REPORTING",
            "maximumNumberOfReports": 1,
            "notificationDestination": secured.cb("x"),
        },
        headers=_bearer(token),
    )
    assert resp.status_code == 200, resp.text
