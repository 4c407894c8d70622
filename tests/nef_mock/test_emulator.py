"""The emulator API (``/emulator/v1``) on a minimal app around a RadioModel with a fake clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from flcore.problem import install_problem_handlers
from nef_mock.radio import RadioModel
from nef_mock.routes.emulator import router

from .radio.conftest import FakeClock, scenario

E = "/emulator/v1"
A, B = "msisdn-100000001", "msisdn-100000002"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def model(clock: FakeClock) -> RadioModel:
    return RadioModel(scenario(), clock=clock)


@pytest.fixture
async def client(model: RadioModel) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(router)
    app.state.radio = model
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://nef") as c:
        yield c


LINK_KEYS = {
    "gpsi",
    "connected",
    "band",
    "cellId",
    "position",
    "mobility",
    "blocked",
    "ulRateBps",
    "dlRateBps",
    "sinrUlDb",
    "sinrDlDb",
    "modelTime",
}


async def test_attach_is_201_then_200_and_returns_the_contract_shape(client: httpx.AsyncClient) -> None:
    r = await client.put(f"{E}/ues/{A}", json={"mobility": "static", "position": [10, 0]})
    assert r.status_code == 201
    link = r.json()
    assert set(link) == LINK_KEYS
    assert link["gpsi"] == A and link["band"] == "FR2" and link["cellId"] == "000000101"
    assert link["position"] == [10.0, 0.0] and link["mobility"] == "static" and link["connected"] is True
    again = await client.put(f"{E}/ues/{A}")
    assert again.status_code == 200 and again.json() == link


async def test_get_one_and_all(client: httpx.AsyncClient, clock: FakeClock) -> None:
    await client.put(f"{E}/ues/{A}", json={"mobility": "static", "position": [10, 0]})
    await client.put(f"{E}/ues/{B}")  # placed from the seed and the GPSI
    clock.advance(2.0)
    one = (await client.get(f"{E}/ues/{A}")).json()
    assert one["modelTime"] == pytest.approx(2.0)
    every = (await client.get(f"{E}/ues")).json()
    assert [u["gpsi"] for u in every] == [A, B]


async def test_unknown_ue_is_404_with_cause(client: httpx.AsyncClient) -> None:
    r = await client.get(f"{E}/ues/msisdn-999999999")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["cause"] == "USER_NOT_FOUND"
    r = await client.put(f"{E}/ues/msisdn-999999999/override", json={"blocked": True})
    assert r.status_code == 404 and r.json()["cause"] == "USER_NOT_FOUND"
    r = await client.post(f"{E}/transfers", json={"gpsi": "msisdn-999999999", "direction": "UL", "bytes": 1})
    assert r.status_code == 404 and r.json()["invalidParams"][0]["param"] == "/gpsi"


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        (f"/ues/{A}", {"position": [-1, 5]}, "/position"),
        (f"/ues/{A}", {"mobility": "bicycle"}, "/mobility"),
        (f"/ues/{A}", {"position": [1]}, "/position"),
        (f"/ues/{A}", {"speed": 3}, "/speed"),
        ("/ues/imsi-001010000000001", None, "gpsi"),
    ],
)
async def test_bad_attach_is_400_naming_the_field(
    client: httpx.AsyncClient, path: Any, body: Any, param: Any
) -> None:
    r = await client.put(E + path, json=body)
    assert r.status_code == 400
    assert any(p["param"].startswith(param) for p in r.json()["invalidParams"])


async def test_override_sets_keeps_and_clears(client: httpx.AsyncClient) -> None:
    base = (await client.put(f"{E}/ues/{A}", json={"mobility": "static", "position": [10, 0]})).json()
    r = await client.put(f"{E}/ues/{A}/override", json={"blocked": True, "ulRateBps": 5e6})
    assert r.status_code == 200
    assert r.json()["blocked"] is True and r.json()["ulRateBps"] == 5e6
    assert r.json()["sinrUlDb"] == pytest.approx(base["sinrUlDb"] - 30.0)
    kept = (await client.put(f"{E}/ues/{A}/override", json={"connected": False})).json()
    assert kept["connected"] is False and kept["blocked"] is True and kept["cellId"] is None
    cleared = (
        await client.put(
            f"{E}/ues/{A}/override", json={"connected": None, "blocked": None, "ulRateBps": None}
        )
    ).json()
    assert cleared["connected"] is True and cleared["blocked"] is False
    assert cleared["ulRateBps"] == base["ulRateBps"]
    bad = await client.put(f"{E}/ues/{A}/override", json={"ulRateBps": -1})
    assert bad.status_code == 400 and bad.json()["invalidParams"][0]["param"] == "/ulRateBps"


async def test_transfers_share_the_cell_and_end(client: httpx.AsyncClient) -> None:
    a = (await client.put(f"{E}/ues/{A}", json={"mobility": "static", "position": [10, 0]})).json()
    await client.put(f"{E}/ues/{B}", json={"mobility": "static", "position": [0, 10]})
    r1 = await client.post(f"{E}/transfers", json={"gpsi": A, "direction": "UL", "bytes": 132_000_000})
    assert r1.status_code == 201
    t1 = r1.json()
    assert set(t1) == {"transferId", "gpsi", "direction", "bytes", "rateBps", "cellId"}
    assert t1["rateBps"] == pytest.approx(a["ulRateBps"]) and t1["cellId"] == "000000101"
    assert r1.headers["location"].endswith(f"/transfers/{t1['transferId']}")
    t2 = (await client.post(f"{E}/transfers", json={"gpsi": B, "direction": "UL", "bytes": 1})).json()
    now1 = (await client.get(f"{E}/transfers/{t1['transferId']}")).json()
    assert now1["rateBps"] == pytest.approx(a["ulRateBps"] / 2)
    cells = {c["cellId"]: c for c in (await client.get(f"{E}/cells")).json()}
    assert cells["000000101"] == {
        "cellId": "000000101",
        "band": "FR2",
        "activeUl": 2,
        "activeDl": 0,
        "ues": 2,
    }
    assert (await client.delete(f"{E}/transfers/{t2['transferId']}")).status_code == 204
    gone = await client.get(f"{E}/transfers/{t2['transferId']}")
    assert gone.status_code == 404 and gone.json()["cause"] == "TRANSFER_NOT_FOUND"
    assert (await client.delete(f"{E}/transfers/{t2['transferId']}")).status_code == 404
    assert (await client.get(f"{E}/transfers/{t1['transferId']}")).json()["rateBps"] == pytest.approx(
        a["ulRateBps"]
    )


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"gpsi": A, "direction": "XL", "bytes": 1}, "/direction"),
        ({"gpsi": A, "direction": "UL", "bytes": -1}, "/bytes"),
        ({"direction": "UL", "bytes": 1}, "/gpsi"),
    ],
)
async def test_bad_transfer_is_400_naming_the_field(client: httpx.AsyncClient, body: Any, param: Any) -> None:
    await client.put(f"{E}/ues/{A}")
    r = await client.post(f"{E}/transfers", json=body)
    assert r.status_code == 400
    assert param in [p["param"] for p in r.json()["invalidParams"]]
