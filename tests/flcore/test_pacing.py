"""Pacing: N bytes at R bit/s take N*8/R seconds (within 10 %), also over real loopback HTTP and across
rate changes. These are functional timing properties, not speed benchmarks: each run lasts ~0.4 s."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from typing import cast

import httpx
import pytest
import uvicorn

from flcore.pacing import Pacer, iter_paced_chunks, paced_chunks, paced_stream, read_into

SECONDS = 0.4


def nbytes_for(rate_bps: float, seconds: float = SECONDS) -> int:
    return int(rate_bps / 8 * seconds)


def assert_took(elapsed: float, expected: float) -> None:
    assert abs(elapsed - expected) <= 0.1 * expected, f"took {elapsed:.3f} s, expected {expected:.3f} s"


@pytest.mark.parametrize("rate", [50e6, 200e6, 1e9])
async def test_paced_upload_takes_n_over_r(rate):
    # Prepare
    body = bytearray(nbytes_for(rate))
    pacer = Pacer(rate)
    seen = 0
    # Execute
    t0 = time.monotonic()
    async for piece in paced_chunks(body, pacer=pacer):
        assert isinstance(piece, memoryview) and len(piece) <= 1 << 20
        seen += len(piece)
    elapsed = time.monotonic() - t0
    # Assert
    assert seen == len(body) == pacer.sent
    assert_took(elapsed, len(body) * 8 / rate)


def test_sync_variant_takes_n_over_r():
    rate = 200e6
    body = bytes(nbytes_for(rate))
    t0 = time.monotonic()
    assert sum(len(p) for p in iter_paced_chunks(body, pacer=Pacer(rate))) == len(body)
    assert_took(time.monotonic() - t0, len(body) * 8 / rate)


async def test_rate_change_mid_transfer():
    # Prepare: the first half at 100 Mbps, the second at 400 Mbps
    slow, fast = 100e6, 400e6
    n = nbytes_for(slow, 0.2) * 2
    pacer = Pacer(slow)
    sent = 0
    # Execute
    t0 = time.monotonic()
    async for piece in paced_chunks(bytes(n), chunk=64 << 10, pacer=pacer):
        sent += len(piece)
        if sent >= n // 2 and pacer.rate_bps == slow:
            pacer.rate_bps = fast
    elapsed = time.monotonic() - t0
    # Assert
    assert_took(elapsed, (n / 2) * 8 / slow + (n / 2) * 8 / fast)


async def test_a_waiter_follows_a_rate_change_while_it_sleeps():
    pacer = Pacer(1e6)  # 1 MB would take 8 s at this rate
    t0 = time.monotonic()
    waiter = asyncio.create_task(pacer.wait(1_000_000))
    await asyncio.sleep(0)  # let the waiter start sleeping
    assert not waiter.done()
    pacer.rate_bps = 1e9  # now 8 ms
    await waiter
    assert time.monotonic() - t0 < 0.25


async def test_a_stalled_link_holds_the_transfer_until_it_recovers():
    pacer = Pacer(0.0)
    waiter = asyncio.create_task(pacer.wait(1000))
    for _ in range(3):
        await asyncio.sleep(0)
    assert not waiter.done() and pacer.delay() == float("inf")
    pacer.rate_bps = 1e9
    await asyncio.wait_for(waiter, 1.0)


def test_unpaced_and_invalid_rates():
    assert Pacer(float("inf")).delay() == 0.0
    with pytest.raises(ValueError):
        Pacer(-1.0)
    with pytest.raises(ValueError):
        Pacer(float("nan"))
    with pytest.raises(ValueError):
        next(iter_paced_chunks(b"abc", chunk=(1 << 20) + 1))


async def test_read_into_refuses_a_long_download():
    async def source() -> AsyncIterator[bytes]:
        yield b"abc"
        yield b"def"

    buf = bytearray(6)
    assert await read_into(source(), buf) == 6 and buf == b"abcdef"
    with pytest.raises(ValueError):
        await read_into(source(), bytearray(5))


# -- over real loopback HTTP ---------------------------------------------------------------------


async def _app(scope, receive, send):
    """POST counts the body; GET /<n> streams n zero bytes in 256 KiB pieces."""
    if scope["type"] != "http":
        return
    if scope["method"] == "POST":
        n = 0
        more = True
        while more:
            msg = await receive()
            n += len(msg.get("body", b""))
            more = msg.get("more_body", False)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(n).encode()})
        return
    n = int(scope["path"].strip("/"))
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", str(n).encode())]})
    piece = bytes(256 << 10)
    for pos in range(0, n, len(piece)):
        more = pos + len(piece) < n
        await send({"type": "http.response.body", "body": piece[: n - pos], "more_body": more})


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)  # listening before the thread starts: clients queue in the backlog, no wait needed
    server = uvicorn.Server(uvicorn.Config(_app, log_level="error", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(10)
    sock.close()


async def test_paced_http_upload_over_loopback(server_url):
    rate = 200e6
    n = nbytes_for(rate)
    async with httpx.AsyncClient() as client:
        await client.get(f"{server_url}/1")  # connect outside the timed part
        t0 = time.monotonic()
        # httpx sends memoryviews without a copy; its annotation only says bytes
        content = cast(AsyncIterable[bytes], paced_chunks(bytes(n), pacer=Pacer(rate)))
        r = await client.post(server_url, content=content, headers={"Content-Length": str(n)})
        elapsed = time.monotonic() - t0
    assert r.status_code == 200 and int(r.text) == n
    assert_took(elapsed, n * 8 / rate)


async def test_paced_http_download_over_loopback(server_url):
    rate = 200e6
    n = nbytes_for(rate)
    buf = bytearray(n)
    async with httpx.AsyncClient() as client:
        await client.get(f"{server_url}/1")
        t0 = time.monotonic()
        async with client.stream("GET", f"{server_url}/{n}") as r:
            got = await read_into(r.aiter_raw(64 << 10), buf, Pacer(rate))
        elapsed = time.monotonic() - t0
    assert got == n
    assert_took(elapsed, n * 8 / rate)


async def test_paced_stream_passes_pieces_through():
    async def source() -> AsyncIterator[bytes]:
        for _ in range(4):
            yield b"x" * 1000

    pacer = Pacer(1e9)
    pieces = [p async for p in paced_stream(source(), pacer)]
    assert b"".join(pieces) == b"x" * 4000 and pacer.sent == 4000
