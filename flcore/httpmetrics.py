"""RED metrics for any of the apps: a pure ASGI middleware that labels by route template, not by URL."""

from __future__ import annotations

import time
from collections.abc import Callable
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
    """Counts ``requests{method, route, status_class}`` and times ``duration{method, route}``, the route
    being the template of the route in ``router`` that matched ("unmatched" when none did).

    With ``label_of``, they are per ``label_of(path)`` instead (the NEF's per-API metrics):
    ``requests{label, method, status_class}`` and ``duration{label}``, and ``router`` is not consulted.
    It gets the request path, not a route template, so that a URL no route matches keeps its label."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        requests: Counter,
        duration: Histogram,
        router: Any,
        label_of: Callable[[str], str] | None = None,
    ) -> None:
        self.app = app
        self.requests = requests
        self.duration = duration
        self.router = router
        self.label_of = label_of

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
            method = scope.get("method", "GET")
            if self.label_of is not None:
                label = self.label_of(str(scope.get("path", "")))
                self.requests.labels(label, method, f"{status // 100}xx").inc()
                self.duration.labels(label).observe(time.perf_counter() - start)
            else:
                route = _route_of(self.router, scope)
                self.requests.labels(method, route, f"{status // 100}xx").inc()
                self.duration.labels(method, route).observe(time.perf_counter() - start)
