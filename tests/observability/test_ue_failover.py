"""The UE's AF failover transport, without processes: which replica each request goes to."""

from __future__ import annotations

import httpx
import pytest

from ue_agent.failover import FailoverTransport

A, B = "http://127.0.0.1:18001", "http://127.0.0.1:18002"


def make(dead: set[str], standby: set[str]) -> tuple[httpx.AsyncClient, FailoverTransport, list[str]]:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        origin = f"{request.url.scheme}://{request.url.host}:{request.url.port}"
        seen.append(f"{origin} {request.headers['host']} {request.url.raw_path.decode()}")
        if origin in dead:
            raise httpx.ConnectError("connection refused", request=request)
        if origin in standby:
            return httpx.Response(503, json={"cause": "NOT_COORDINATOR"})
        return httpx.Response(200, json={"served_by": origin})

    transport = FailoverTransport([A, B], httpx.MockTransport(handler))
    return httpx.AsyncClient(base_url=A, transport=transport), transport, seen


async def test_moves_on_when_the_replica_refuses_connections() -> None:
    client, transport, seen = make(dead={A}, standby=set())
    async with client:
        with pytest.raises(httpx.ConnectError):
            await client.get("/af/v1/ue/task", params={"wait": 1})
        r = await client.get("/af/v1/ue/task", params={"wait": 1})
    assert r.json() == {"served_by": B}
    assert transport.url == httpx.URL(B)
    # path, query and Host header follow the replica
    assert seen == [
        f"{A} 127.0.0.1:18001 /af/v1/ue/task?wait=1",
        f"{B} 127.0.0.1:18002 /af/v1/ue/task?wait=1",
    ]


async def test_moves_on_from_a_standby_and_back_when_roles_swap() -> None:
    client, transport, _ = make(dead=set(), standby={A})
    async with client:
        assert (await client.get("/x")).status_code == 503
        assert (await client.get("/x")).json() == {"served_by": B}
        assert (await client.get("/x")).json() == {"served_by": B}  # stays while B answers


async def test_one_failure_seen_by_many_requests_moves_on_once() -> None:
    """Concurrent UEs share the transport: a failure of the old replica must not skip the new one."""
    client, transport, _ = make(dead={A}, standby=set())
    async with client:
        used = transport.current
        transport._advance(used, "test")
        transport._advance(used, "test")  # a second UE reporting the same failure of A
    assert transport.url == httpx.URL(B)


async def test_single_url_and_foreign_urls_are_left_alone() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(503)

    transport = FailoverTransport([A], httpx.MockTransport(handler))
    async with httpx.AsyncClient(transport=transport) as client:
        await client.get(f"{A}/a")
        await client.get("http://127.0.0.1:19999/elsewhere")
    assert transport.url == httpx.URL(A)
    assert seen == [f"{A}/a", "http://127.0.0.1:19999/elsewhere"]
