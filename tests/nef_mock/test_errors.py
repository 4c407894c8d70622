"""Bad input everywhere: 4xx ProblemDetails (never FastAPI ``detail`` lists) naming the bad attribute."""

from __future__ import annotations

import httpx
import pytest

from tests.nef_mock import oracle
from tests.nef_mock.conftest import AF, MSISDN, Nef

MON = f"/3gpp-monitoring-event/v1/{AF}/subscriptions"
QOS = f"/3gpp-as-session-with-qos/v1/{AF}/subscriptions"
FETCH = f"/3gpp-analyticsexposure/v1/{AF}/fetch"
MUSA = f"/3gpp-musa/v1/{AF}/subscriptions"
LOCATION = {
    "msisdn": MSISDN,
    "monitoringType": "LOCATION_REPORTING",
    "maximumNumberOfReports": 1,
    "notificationDestination": "http://af.test/cb",
}


def _assert_problem(resp: httpx.Response, status: int, params: list[str]) -> None:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    body = resp.json()
    oracle.check(oracle.COMMON, "ProblemDetails", body)
    assert body["status"] == status and body["cause"]
    assert not isinstance(body.get("detail"), list)
    for param in params:
        assert param in [p["param"] for p in body.get("invalidParams", [])], body


@pytest.mark.parametrize("path", [MON, QOS, FETCH, MUSA])
async def test_malformed_json(nef: Nef, path: str) -> None:
    resp = await nef.client.post(
        path, content=b'{"notificationDestination": ', headers={"content-type": "application/json"}
    )
    _assert_problem(resp, 400, [])
    assert resp.json()["detail"] == "request body is not valid JSON"


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        (MON, LOCATION | {"monitoringType": 5}, "/monitoringType"),
        (MON, LOCATION | {"maximumNumberOfReports": "1"}, "/maximumNumberOfReports"),
        (MON, LOCATION | {"maximumNumberOfReports": 0}, "/maximumNumberOfReports"),
        (MON, LOCATION | {"monitorExpireTime": "tomorrow"}, "/monitorExpireTime"),
        (
            MON,
            {k: v for k, v in LOCATION.items() if k != "notificationDestination"},
            "/notificationDestination",
        ),
        (
            MON,
            {k: v for k, v in LOCATION.items() if k != "maximumNumberOfReports"},
            "/maximumNumberOfReports",
        ),
        (QOS, {"gpsi": ["msisdn-1"], "notificationDestination": "http://af.test/cb"}, "/gpsi"),
        (FETCH, {"analyEvent": "UE_MOBILITY", "suppFeat": "xyz"}, "/suppFeat"),
        (MUSA, {"tgtUes": "msisdn-1", "notifUri": "http://af.test/cb", "notifId": "n"}, "/tgtUes"),
        (MUSA, {"tgtUes": ["msisdn-1"], "notifId": "n", "dnnFilters": [{}]}, "/notifUri"),
    ],
)
async def test_wrong_types_and_missing_attributes(
    nef: Nef, path: str, body: dict[str, object], param: str
) -> None:
    _assert_problem(await nef.client.post(path, json=body), 400, [param])


async def test_unknown_attributes_and_enum_values_are_tolerated(nef: Nef) -> None:
    body = LOCATION | {"locationType": "SOME_FUTURE_LOCATION_TYPE", "accuracy": "FUTURE", "rel20Attr": [1, 2]}
    resp = await nef.client.post(MON, json=body)
    assert resp.status_code == 200, resp.text


@pytest.mark.parametrize("base", [MON, QOS, f"/3gpp-analyticsexposure/v1/{AF}/subscriptions", MUSA])
async def test_unknown_subscription_is_404(nef: Nef, base: str) -> None:
    for method in ("GET", "DELETE"):
        resp = await nef.client.request(method, f"{base}/0123456789abcdef")
        _assert_problem(resp, 404, ["subscriptionId"])
        assert resp.json()["cause"] == "SUBSCRIPTION_NOT_FOUND"


async def test_unknown_path_and_method_are_problems_too(nef: Nef) -> None:
    _assert_problem(await nef.client.get("/3gpp-traffic-influence/v1/x/subscriptions"), 404, [])
    _assert_problem(await nef.client.delete(MON), 405, [])
