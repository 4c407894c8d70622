"""POSTs notifications to AF callback URIs, with bounded retries and exponential backoff."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx

from nef_mock.metrics import Metrics

log = logging.getLogger(__name__)


class Notifier:
    """Delivers JSON notifications; ``send`` never blocks the caller, ``deliver`` awaits the outcome.

    Outcomes (the ``outcome`` label): ``delivered`` (2xx), ``rejected`` (a 4xx other than 408/429: a
    retry would not help), ``failed`` (retries exhausted), ``dropped`` (too many in flight).
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        metrics: Metrics,
        *,
        retries: int = 3,
        backoff_s: float = 0.1,
        backoff_max_s: float = 2.0,
        timeout_s: float = 2.0,
        max_inflight: int = 256,
    ) -> None:
        self._http = http
        self._metrics = metrics
        self._retries = retries
        self._backoff_s = backoff_s
        self._backoff_max_s = backoff_max_s
        self._timeout_s = timeout_s
        self._max_inflight = max_inflight
        self._tasks: set[asyncio.Task[str]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """The loop that owns the HTTP client; ``send`` from other threads hands over to it."""
        self._loop = loop

    @property
    def inflight(self) -> int:
        return len(self._tasks)

    def send(self, api: str, url: str, body: Any) -> None:
        """Queue one notification in the background (callable from the loop or from a worker thread)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            if self._loop is None or self._loop.is_closed():
                log.warning("notification to %s dropped: no event loop", url)
                self._metrics.notifications.labels(api=api, outcome="dropped").inc()
                return
            self._loop.call_soon_threadsafe(self._spawn, api, url, body)
            return
        self._spawn(api, url, body)

    def _spawn(self, api: str, url: str, body: Any) -> None:
        if len(self._tasks) >= self._max_inflight:
            log.warning("notification to %s dropped: %d already in flight", url, len(self._tasks))
            self._metrics.notifications.labels(api=api, outcome="dropped").inc()
            return
        task = asyncio.get_running_loop().create_task(self.deliver(api, url, body))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def deliver(self, api: str, url: str, body: Any) -> str:
        """POST ``body`` to ``url`` until it is accepted or the retries are spent; returns the outcome."""
        outcome = "failed"
        delay = self._backoff_s
        for attempt in range(self._retries + 1):
            if attempt:
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._backoff_max_s)
            try:
                resp = await self._http.post(url, json=body, timeout=self._timeout_s)
            except (httpx.InvalidURL, httpx.UnsupportedProtocol, ValueError) as exc:
                # A URI that cannot be reached at all: a retry would not fix it.
                log.info("notification to %r not sent: %s", url, exc)
                outcome = "rejected"
                break
            except httpx.HTTPError as exc:
                log.info("notification to %s failed (attempt %d): %s", url, attempt + 1, exc)
                continue
            if resp.is_success:
                outcome = "delivered"
                break
            if 400 <= resp.status_code < 500 and resp.status_code not in (408, 429):
                outcome = "rejected"
                break
            log.info("notification to %s answered %d (attempt %d)", url, resp.status_code, attempt + 1)
        self._metrics.notifications.labels(api=api, outcome=outcome).inc()
        return outcome

    async def drain(self, timeout_s: float = 1.0) -> None:
        """Give queued notifications a moment to go out, then cancel the rest."""
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=timeout_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
