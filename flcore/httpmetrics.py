"""RED metrics for any of the apps: a pure ASGI middleware that labels by route template, not by URL."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import Counter, Histogram
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def _route_of(app: Any, scope: Scope) -> str:
    for route in getattr(app, "routes", []):
        match, _ = route.matches(scope)
        if match == Match.FULL:
            return str(getattr(route, "path", "other"))
    return "unmatched"


class HttpMetricsMiddleware:
    def __init__(self, app: ASGIApp, *, requests: Counter, duration: Histogram, router: Any) -> None:
        self.app = app
        self.requests = requests
        self.duration = duration
        self.router = router

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = _route_of(self.router, scope)
            method = scope.get("method", "GET")
            self.requests.labels(method, route, f"{status // 100}xx").inc()
            self.duration.labels(method, route).observe(time.perf_counter() - start)
