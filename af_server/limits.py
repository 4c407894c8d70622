"""Bounds on what request bodies can make the AF hold in memory.

- Every AF request body except an update upload is a small JSON document. FastAPI reads a JSON body
  whole before any dependency (authentication included) runs, so without a cap an unauthenticated
  caller could make the AF hold a body of any size. ``BodyLimitMiddleware`` answers 413 to a declared
  ``Content-Length`` above the cap, and to a chunked body as soon as it passes the cap.
- An update upload is streamed into one buffer of its declared (limit- and budget-checked) length.
  ``ByteBudget`` bounds the sum of those buffers across all uploads in flight
  (``AF_UPLOAD_BUFFER_BYTES``): an upload that would pass it waits, its body unread, so TCP flow
  control holds the UE back until earlier bodies have been folded into the sum and freed. Memory for
  N concurrent uploads is then min(N x update size, the budget), not N x update size.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from flcore.problem import problem, problem_response

Scope = dict[str, Any]
Message = dict[str, Any]

UPLOAD_PATH = re.compile(r"^/af/v1/jobs/[^/]+/rounds/[^/]+/updates/?$")
DEFAULT_MAX_JSON_BYTES = 256 * 1024


class BodyLimitMiddleware:
    def __init__(self, app: Any, max_bytes: int = DEFAULT_MAX_JSON_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or UPLOAD_PATH.match(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        declared = next((v for k, v in scope.get("headers", []) if k == b"content-length"), None)
        if declared is not None and declared.strip().isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        # read the (small) body here, with a cap, and hand it on whole
        messages: list[Message] = []
        total = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            total += len(message.get("body", b""))
            if total > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Any, send: Any) -> None:
        body = problem(
            413,
            f"request bodies other than update uploads are limited to {self.max_bytes} bytes",
            cause="PAYLOAD_TOO_LARGE",
            invalid=[("Content-Length", f"above {self.max_bytes}")],
            instance=scope.get("path"),
        )
        response = problem_response(body, {"Connection": "close"})
        await response(scope, receive, send)


class ByteBudget:
    """At most ``capacity`` bytes held at once; holders beyond it wait, first come first served."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.used = 0
        self.peak = 0
        self._waiting: deque[tuple[int, asyncio.Future[None]]] = deque()

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @contextlib.asynccontextmanager
    async def hold(self, nbytes: int) -> AsyncIterator[None]:
        n = max(0, min(nbytes, self.capacity))  # a body larger than the budget goes alone
        if self._waiting or self.used + n > self.capacity:
            granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiting.append((n, granted))
            try:
                await granted
            except asyncio.CancelledError:
                if granted.done() and not granted.cancelled():
                    self._release(n)  # granted just as the holder went away
                else:
                    self._waiting.remove((n, granted))
                    self._grant()
                raise
        else:
            self._take(n)
        try:
            yield
        finally:
            self._release(n)

    def _take(self, n: int) -> None:
        self.used += n
        self.peak = max(self.peak, self.used)

    def _release(self, n: int) -> None:
        self.used -= n
        self._grant()

    def _grant(self) -> None:
        while self._waiting and self.used + self._waiting[0][0] <= self.capacity:
            n, granted = self._waiting.popleft()
            if not granted.done():
                self._take(n)
                granted.set_result(None)
