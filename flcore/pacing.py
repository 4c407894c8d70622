"""Pacing a transfer to an emulated link rate that may change while the transfer runs.

``Pacer`` is a token bucket over ``time.monotonic``: tokens (bytes) accrue at ``rate_bps / 8`` per second
at whatever rate was in force at the time, up to a small burst (10 ms of data), and a caller that asks for
more than it holds runs into debt and waits until the debt is repaid. The bucket starts empty, so ``N``
bytes take ``N * 8 / rate`` seconds from the first request. ``rate_bps`` may be set at any moment (the UE
agent refreshes it from the NEF emulator every ~100 ms); a waiter sleeps in slices of at most
``max_sleep_s`` and so follows a change within one slice. A rate of 0 stalls (a link that is down);
``math.inf`` does not pace at all.

Uploads: pass ``paced_chunks(body, pacer=...)`` as httpx ``content=`` with an explicit ``Content-Length``
(httpx sends the memoryviews without a copy; its annotation says ``AsyncIterable[bytes]``, so ``cast``).
Downloads: ``paced_stream(response.aiter_raw(), pacer)`` or ``read_into(..., buf, pacer)``.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterator

MAX_CHUNK = 1 << 20
"""Largest slice handed to an HTTP client (larger bodies make httpx copy quadratically)."""
MIN_CHUNK = 16 << 10


class Pacer:
    """A token bucket paced at ``rate_bps`` bits per second, safe to share between threads."""

    def __init__(self, rate_bps: float, *, burst_s: float = 0.01, max_sleep_s: float = 0.02,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self.burst_s = burst_s
        self.max_sleep_s = max_sleep_s
        self._rate = self._check(rate_bps)
        self._tokens = 0.0
        self._last = clock()
        self.sent = 0
        """Bytes paced so far."""

    @staticmethod
    def _check(rate_bps: float) -> float:
        rate = float(rate_bps)
        if math.isnan(rate) or rate < 0:
            raise ValueError(f"rate_bps must be >= 0 (0: stalled, inf: unpaced), got {rate_bps!r}")
        return rate

    @property
    def rate_bps(self) -> float:
        return self._rate

    @rate_bps.setter
    def rate_bps(self, value: float) -> None:
        rate = self._check(value)
        with self._lock:
            self._refill(self._clock())  # bytes so far accrued at the old rate
            self._rate = rate

    def _refill(self, now: float) -> None:
        if math.isinf(self._rate):
            self._tokens = 0.0
        else:
            cap = self._rate / 8 * self.burst_s
            self._tokens = min(cap, self._tokens + (now - self._last) * self._rate / 8)
        self._last = now

    def _reserve(self, nbytes: int) -> None:
        if nbytes < 0:
            raise ValueError(f"nbytes must be >= 0, got {nbytes}")
        with self._lock:
            self._refill(self._clock())
            if not math.isinf(self._rate):
                self._tokens -= nbytes
            self.sent += nbytes

    def delay(self) -> float:
        """Seconds until the debt is repaid at the current rate (0 when none; inf while stalled)."""
        with self._lock:
            self._refill(self._clock())
            if self._tokens >= 0 or math.isinf(self._rate):
                return 0.0
            return math.inf if self._rate == 0 else -self._tokens * 8 / self._rate

    async def wait(self, nbytes: int) -> None:
        """Take ``nbytes`` from the bucket, sleeping until the link would have carried them."""
        self._reserve(nbytes)
        while (d := self.delay()) > 0:
            await asyncio.sleep(min(d, self.max_sleep_s))

    def wait_sync(self, nbytes: int) -> None:
        """``wait`` for threads and synchronous clients."""
        self._reserve(nbytes)
        while (d := self.delay()) > 0:
            time.sleep(min(d, self.max_sleep_s))

    def seconds_for(self, nbytes: int) -> float:
        """How long ``nbytes`` take at the current rate, from an empty bucket."""
        return math.inf if self._rate == 0 else nbytes * 8 / self._rate


def _step(pacer: Pacer | None, chunk: int) -> int:
    """About 10 ms of data per slice, so that slow links trickle rather than lurch a MiB at a time."""
    if pacer is None or math.isinf(pacer.rate_bps):
        return chunk
    return max(min(MIN_CHUNK, chunk), min(chunk, int(pacer.rate_bps / 8 * pacer.burst_s)))


def _view(data: bytes | bytearray | memoryview, chunk: int) -> memoryview:
    if not 0 < chunk <= MAX_CHUNK:
        raise ValueError(f"chunk must be in (0, {MAX_CHUNK}], got {chunk}")
    return memoryview(data).cast("B")


async def paced_chunks(data: bytes | bytearray | memoryview, chunk: int = MAX_CHUNK,
                       pacer: Pacer | None = None) -> AsyncIterator[memoryview]:
    """Zero-copy slices of at most ``chunk`` bytes, each released when the pacer allows."""
    mv = _view(data, chunk)
    pos = 0
    while pos < len(mv):
        piece = mv[pos : pos + _step(pacer, chunk)]
        if pacer is not None:
            await pacer.wait(len(piece))
        pos += len(piece)
        yield piece


def iter_paced_chunks(data: bytes | bytearray | memoryview, chunk: int = MAX_CHUNK,
                      pacer: Pacer | None = None) -> Iterator[memoryview]:
    """``paced_chunks`` for synchronous clients."""
    mv = _view(data, chunk)
    pos = 0
    while pos < len(mv):
        piece = mv[pos : pos + _step(pacer, chunk)]
        if pacer is not None:
            pacer.wait_sync(len(piece))
        pos += len(piece)
        yield piece


async def paced_stream(source: AsyncIterable[bytes], pacer: Pacer | None) -> AsyncIterator[bytes]:
    """Pass download chunks through as the pacer allows; the pause backs up into the TCP window."""
    async for piece in source:
        if pacer is not None:
            await pacer.wait(len(piece))
        yield piece


async def read_into(source: AsyncIterable[bytes], buf: bytearray | memoryview, pacer: Pacer | None = None
                    ) -> int:
    """Fill a preallocated buffer from a download, paced; returns the byte count. ``ValueError`` when
    the source holds more than ``buf`` (nothing past its end is written)."""
    mv = memoryview(buf).cast("B")
    pos = 0
    async for piece in paced_stream(source, pacer):
        end = pos + len(piece)
        if end > len(mv):
            raise ValueError(f"download is longer than its {len(mv)}-byte buffer")
        mv[pos:end] = piece
        pos = end
    return pos
