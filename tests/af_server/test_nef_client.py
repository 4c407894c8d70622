"""The AF's NEF client against the real NEF mock in-process (httpx.ASGITransport), auth enabled."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from af_server.nef_client import NefClient, NefRejected, NefTimeout, NefUnavailable
from nef_mock.settings import DEV_CLIENT_ID, DEV_CLIENT_SECRET
from tests.nef_mock.conftest import Nef, Receiver, running_nef

UES = [f"msisdn-9100000{i:05d}" for i in range(6)]
UNKNOWN = "msisdn-999999999"
VGG16 = 132_000_000


class CountingTransport(httpx.ASGITransport):
    """Reaches the NEF app in-process and counts requests per path."""

    def __init__(self, app: Any) -> None:
        super().__init__(app=app)
        self.paths: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        return await super().handle_async_request(request)

    def tokens(self) -> int:
        return sum(p.endswith("/token") for p in self.paths)


@dataclass
class Env:
    nef: Nef
    client: NefClient
    transport: CountingTransport
    observed: list[tuple[str, str, float]]


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    holder: dict[str, NefClient] = {}

    def forward(path: str, body: Any) -> None:  # the AF's callback route hands MUSA answers over
        if path == "/cb/musa":
            holder["client"].handle_notification(body)

    async with running_nef(
        fake_clock=True, auth_disabled=False, token_ttl_s=60, receiver=Receiver(on_body=forward)
    ) as nef:
        assert nef.clock is not None
        transport = CountingTransport(nef.app)
        observed: list[tuple[str, str, float]] = []
        async with httpx.AsyncClient(transport=transport) as http:
            client = NefClient(
                "http://nef.test",
                af_id="fl5g-af",
                client_id=DEV_CLIENT_ID,
                client_secret=DEV_CLIENT_SECRET,
                http=http,
                observe=lambda *a: observed.append(a),
                clock=nef.clock.wall,
            )
            holder["client"] = client
            yield Env(nef, client, transport, observed)
            await client.aclose()


async def test_predicted_transfer_times_one_token_for_many_calls(env: Env) -> None:
    # Execute
    one = await env.client.predict_transfer_times(
        UES[:1], ul_bytes=VGG16, dl_bytes=VGG16, start_offset_s=1, duration_s=2
    )
    many = await env.client.predict_transfer_times(
        [*UES, UNKNOWN], ul_bytes=VGG16, dl_bytes=VGG16, start_offset_s=1, duration_s=2
    )
    # Assert
    assert set(one) == {UES[0]} and set(many) == set(UES)
    fc = env.nef.state.radio.forecast(UES[0], 1.0, 2.0)  # fake clock: the NEF's very forecast
    ul_s, ul_var, dl_s, _ = fc.transfer_time(VGG16, VGG16)
    p = one[UES[0]]
    assert p.ul_mean_s == pytest.approx(round(ul_s * 1000) / 1000) and p.dl_mean_s == pytest.approx(
        round(dl_s * 1000) / 1000
    )
    assert p.ul_var_s2 == pytest.approx(ul_var, rel=1e-9, abs=1e-12)
    assert p.confidence == pytest.approx(round(100 * fc.connected_share) / 100)
    for pred in many.values():
        assert pred.ul_mean_s > 0 and (math.isfinite(pred.ul_mean_s) or pred.ul_mean_s == math.inf)
    assert env.transport.tokens() == 1
    assert ("3gpp-analyticsexposure", "2xx") in {(a, s) for a, s, _ in env.observed}


async def test_token_is_fetched_again_on_expiry_and_after_revocation(env: Env) -> None:
    clock = env.nef.clock
    assert clock is not None
    await env.client.locations(UES[:1])
    assert env.transport.tokens() == 1
    # revocation: the NEF answers 401, the client fetches a new token and retries once
    env.nef.state.tokens.revoke_invoker(DEV_CLIENT_ID)
    clock.advance(1)
    assert set(await env.client.locations(UES[:1])) == {UES[0]}
    assert env.transport.tokens() == 2
    # expiry: renewed before the NEF would refuse it
    clock.advance(60)
    await env.client.locations(UES[:1])
    assert env.transport.tokens() == 3


async def test_wrong_secret_is_rejected(env: Env) -> None:
    bad = NefClient(
        "http://nef.test",
        af_id="fl5g-af",
        client_id=DEV_CLIENT_ID,
        client_secret="nope",
        http=httpx.AsyncClient(transport=env.transport),
    )
    with pytest.raises(NefRejected) as info:
        await bad.locations(UES[:1])
    assert info.value.status == 401 and info.value.cause == "invalid_client"
    await bad.aclose()


@pytest.mark.parametrize(
    ("behaviour", "error", "status_class"),
    [
        (httpx.ConnectError("refused"), NefUnavailable, "error"),
        (httpx.ReadTimeout("slow"), NefTimeout, "error"),
        (httpx.Response(503, json={"status": 503, "cause": "SERVICE_UNAVAILABLE"}), NefUnavailable, "5xx"),
        (httpx.Response(400, json={"status": 400, "cause": "INVALID_MSG_FORMAT"}), NefRejected, "4xx"),
    ],
)
async def test_transport_failures_are_translated(behaviour: Any, error: type, status_class: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(behaviour, Exception):
            raise behaviour
        assert isinstance(behaviour, httpx.Response)
        return behaviour

    observed: list[tuple[str, str, float]] = []
    client = NefClient(
        "http://nef.test",
        af_id="a",
        client_id=None,
        client_secret=None,
        http=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
        observe=lambda *a: observed.append(a),
    )
    with pytest.raises(error) as info:
        await client.predict_transfer_times(
            ["msisdn-1"], ul_bytes=1, dl_bytes=1, start_offset_s=0, duration_s=1
        )
    assert observed[0][:2] == ("3gpp-analyticsexposure", status_class)
    if isinstance(info.value, NefRejected):
        assert info.value.problem["cause"] == "INVALID_MSG_FORMAT"


async def test_locations_give_the_serving_ncgi(env: Env) -> None:
    found = await env.client.locations([*UES[:3], UNKNOWN])
    assert set(found) == set(UES[:3])
    for gpsi, loc in found.items():
        link = env.nef.state.radio.link(gpsi)
        assert loc.ncgi_cell_id == link.cell_id and loc.tac == link.tac
        assert loc.plmn_id == {"mcc": "001", "mnc": "01"}


async def test_member_candidates(env: Env) -> None:
    connected = [g for g in UES if env.nef.state.radio.link(g).connected]
    easy = await env.client.member_candidates(
        [*UES, UNKNOWN],
        ul_bytes=1_000_000,
        dl_bytes=1_000_000,
        max_ul_s=60,
        max_dl_s=60,
        notif_uri="http://af.test/cb/musa",
    )
    assert easy == connected
    none = await env.client.member_candidates(
        UES,
        ul_bytes=VGG16,
        dl_bytes=VGG16,
        max_ul_s=0.001,
        max_dl_s=0.001,
        notif_uri="http://af.test/cb/musa",
        wait_s=0.3,
    )
    assert none == []
    assert env.nef.state.store.list("3gpp-musa") == []  # the client deleted its subscriptions


async def test_loss_of_connectivity_subscription(env: Env) -> None:
    urls = await env.client.subscribe_loss_of_connectivity(UES[:2], "http://af.test/cb/loss")
    assert len(urls) == 2
    await env.nef.client.put(f"/emulator/v1/ues/{UES[1]}/override", json={"connected": False})
    [notif] = await env.nef.receiver.wait(lambda p, _: p == "/cb/loss")
    assert notif["subscription"] == urls[1]
    assert notif["monitoringEventReports"][0]["msisdn"] == UES[1].removeprefix("msisdn-")
    for url in urls:
        await env.client.delete_subscription(url)
    assert env.nef.state.store.list("3gpp-monitoring-event") == []


async def test_request_and_release_qos(env: Env) -> None:
    url = await env.client.request_qos(UES[0], "fl-ul-boost", "http://af.test/cb/qos", duration_s=30)
    [sub] = env.nef.state.store.list("3gpp-as-session-with-qos")
    grant = sub.state.grant
    env.nef.state.radio.gbr_satisfied(grant)
    await env.client.release_qos(url)
    with pytest.raises(KeyError):
        env.nef.state.radio.gbr_satisfied(grant)
    await env.client.release_qos(url)  # twice is fine
    with pytest.raises(NefRejected) as info:
        await env.client.request_qos(UES[0], "no-such-qos", "http://af.test/cb/qos", duration_s=30)
    assert info.value.status == 400 and info.value.problem["invalidParams"][0]["param"] == "/qosReference"


async def test_analytics_helpers(env: Env) -> None:
    cell = env.nef.state.radio.link(UES[0]).cell_id
    assert cell is not None
    crossed = await env.client.qos_sustainability(["20.3 Gbps"], cells=[cell], duration_s=2)
    assert crossed and {r.cell_id for r in crossed} == {cell} and crossed[0].threshold == "20.3 Gbps"
    assert await env.client.qos_sustainability(["1 bps"], cells=[cell], duration_s=2) == []
    shares = await env.client.ue_mobility(UES[0], duration_s=2)
    assert cell in {s.cell_id for s in shares}
