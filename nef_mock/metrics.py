"""Prometheus metrics of the NEF mock, all on one injected registry, and the ASGI middleware feeding them."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Bounded label values: the first path segment when it names one of our APIs, else "other".
KNOWN_APIS = frozenset(
    {
        "3gpp-monitoring-event",
        "3gpp-as-session-with-qos",
        "3gpp-analyticsexposure",
        "3gpp-musa",
        "capif-security",
        "emulator",
        "nef",
        "livez",
        "readyz",
        "metrics",
    }
)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def api_label(path: str) -> str:
    head = path.lstrip("/").split("/", 1)[0]
    return head if head in KNOWN_APIS else "other"


class Metrics:
    """Every metric the NEF mock exports."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.http_requests = Counter(
            "nef_http_requests_total",
            "HTTP requests answered, by API, method and status class.",
            ["api", "method", "status_class"],
            registry=registry,
        )
        self.http_duration = Histogram(
            "nef_http_request_duration_seconds",
            "Time to answer an HTTP request, by API.",
            ["api"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.radio_ues = Gauge(
            "nef_radio_ues", "UEs attached to the radio model, by band.", ["band"], registry=registry
        )
        self.cell_active_transfers = Gauge(
            "nef_radio_cell_active_transfers",
            "Transfers active in the radio model's cells, by direction.",
            ["direction"],
            registry=registry,
        )
        self.notifications = Counter(
            "nef_notifications_total",
            "Notifications POSTed to AF callback URIs, by API and outcome.",
            ["api", "outcome"],
            registry=registry,
        )

    def observe_request(self, path: str, method: str, status: int, seconds: float) -> None:
        api = api_label(path)
        self.http_requests.labels(api=api, method=method, status_class=f"{status // 100}xx").inc()
        self.http_duration.labels(api=api).observe(seconds)


class MetricsMiddleware:
    """Counts and times every HTTP request (pure ASGI, so streaming bodies stay untouched)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

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
            path: Any = scope.get("path", "")
            self.metrics.observe_request(
                str(path), str(scope.get("method", "")), status, time.perf_counter() - start
            )
