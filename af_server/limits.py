"""Refuse oversized request bodies before anything reads them into memory.

Every AF request body except an update upload is a small JSON document. FastAPI reads a JSON body
whole before any dependency (authentication included) runs, so without a cap an unauthenticated
caller could make the AF hold a body of any size. This middleware answers 413 to a declared
``Content-Length`` above the cap, and to a chunked body as soon as it passes the cap. Update uploads
are left alone: the coordinator streams them into a buffer of their declared, budget-checked length.
"""

from __future__ import annotations

import re
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
