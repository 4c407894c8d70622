"""Fail over between AF replicas: one httpx transport that sends every AF request to the current one.

Only the replica holding the coordinator lock serves UEs; a standby answers 503 ``NOT_COORDINATOR``
and a dead one refuses connections. In Kubernetes a Service in front of the replicas routes to the
ready one (the coordinator) and a UE is given one URL. Without such a Service (the local launcher,
or two AF URLs given by hand) a UE is given every replica's URL (``UE_AF_URLS``), and this
transport moves on to the next URL when the current one refuses a connection or answers 503. The
request that failed is not retried here (an upload body cannot be replayed): the agent's loop
backs off and tries again, and its next request goes to the next replica.
"""

from __future__ import annotations

import logging

import httpx

log = logging.getLogger("ue_agent.failover")


class FailoverTransport(httpx.AsyncBaseTransport):
    def __init__(self, urls: list[str], inner: httpx.AsyncBaseTransport) -> None:
        if not urls:
            raise ValueError("FailoverTransport needs at least one AF URL")
        self.urls = [httpx.URL(u) for u in urls]
        self._origins = {(u.scheme, u.host, u.port) for u in self.urls}
        self.inner = inner
        self.current = 0

    @property
    def url(self) -> httpx.URL:
        return self.urls[self.current]

    def _advance(self, used: int, why: str) -> None:
        # many UEs share this transport: only the first to see a failure of a URL moves on from it
        if used == self.current and len(self.urls) > 1:
            self.current = (used + 1) % len(self.urls)
            log.info("AF %s %s; switching to %s", self.urls[used], why, self.url)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        used = self.current
        if (request.url.scheme, request.url.host, request.url.port) in self._origins:
            target = self.urls[used]
            request.url = request.url.copy_with(scheme=target.scheme, host=target.host, port=target.port)
            request.headers["Host"] = request.url.netloc.decode("ascii")
        try:
            response = await self.inner.handle_async_request(request)
        except (httpx.ConnectError, httpx.ConnectTimeout):
            self._advance(used, "refused the connection")
            raise
        if response.status_code == 503:
            self._advance(used, "answered 503 (standby or unavailable)")
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()
