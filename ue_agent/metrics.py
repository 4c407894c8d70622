"""The UE agent's metrics (one registry per process, shared by the UEs it hosts; no UE id labels)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class UeMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.train_step = Histogram(
            "flue_train_step_seconds", "Wall time of one local SGD step", buckets=BUCKETS, registry=registry
        )
        self.transfer = Histogram(
            "flue_transfer_seconds",
            "Model download / update upload time",
            ["direction"],
            buckets=BUCKETS,
            registry=registry,
        )
        self.transfer_bytes = Counter("flue_transfer_bytes", "Bytes moved", ["direction"], registry=registry)
        self.updates = Counter(
            "flue_updates", "Updates sent, by the AF's verdict", ["outcome"], registry=registry
        )
        for o in ("on_time", "late", "rejected", "failed"):
            self.updates.labels(o)
        for d in ("ul", "dl"):
            self.transfer_bytes.labels(d)
        self.energy = Counter("flue_energy_joules", "Modelled energy spent", ["part"], registry=registry)
        self.ues = Gauge("flue_ues", "UEs hosted by this process", registry=registry)
        self.registered = Gauge("flue_ues_registered", "UEs registered with the AF", registry=registry)
        self.http_requests = Counter(
            "flue_http_requests",
            "HTTP requests served",
            ["method", "route", "status_class"],
            registry=registry,
        )
        self.http_duration = Histogram(
            "flue_http_request_duration_seconds",
            "HTTP request duration",
            ["method", "route"],
            buckets=BUCKETS,
            registry=registry,
        )
