"""Prometheus metrics of the NEF mock, all on one injected registry.

The HTTP metrics are fed by ``flcore.httpmetrics.HttpMetricsMiddleware`` with ``label_of=api_label``.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

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
