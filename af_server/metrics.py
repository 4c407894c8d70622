"""Every metric the AF exports, on one injected registry (see docs/interfaces.md)."""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class Metrics:
    def __init__(self, registry: CollectorRegistry, latency_buckets: Sequence[float]) -> None:
        self.registry = registry
        self.updates = Counter(
            "flaf_ue_updates", "UE updates by deadline outcome", ["outcome"], registry=registry
        )
        for outcome in ("on_time", "late", "missing", "rejected"):
            self.updates.labels(outcome)
        self.update_latency = Histogram(
            "flaf_ue_update_latency_seconds",
            "From dispatch of an iteration to the arrival of a UE's complete update",
            buckets=sorted(set(latency_buckets)),
            registry=registry,
        )
        self.round_duration = Histogram(
            "flaf_round_duration_seconds",
            "Wall time of one iteration, dispatch to publication",
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.rounds = Counter("flaf_rounds", "Finished iterations by status", ["status"], registry=registry)
        for status in ("completed", "abandoned", "failed"):
            self.rounds.labels(status)
        self.selected = Gauge(
            "flaf_round_selected_ues", "UEs selected for the current iteration", registry=registry
        )
        self.round_deadline = Gauge(
            "flaf_round_deadline_seconds",
            "Deadline of the current iteration, from dispatch",
            registry=registry,
        )
        self.nef_duration = Histogram(
            "flaf_nef_request_duration_seconds",
            "AF to NEF northbound calls",
            ["api", "status_class"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.aggregation = Histogram(
            "flaf_aggregation_duration_seconds",
            "Decoding and adding one update into the running sum",
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.transfer_bytes = Counter(
            "flaf_model_transfer_bytes", "Model and update bytes moved", ["direction"], registry=registry
        )
        for d in ("ul", "dl"):
            self.transfer_bytes.labels(d)
        self.accuracy = Gauge(
            "flaf_model_accuracy_ratio", "Test accuracy of the published model", registry=registry
        )
        self.last_round_end = Gauge(
            "flaf_last_round_end_timestamp_seconds", "Unix time the last iteration ended", registry=registry
        )
        self.nef_degraded = Gauge(
            "flaf_nef_degraded",
            "1 while the NEF is unreachable and selection runs without it",
            registry=registry,
        )
        self.leader = Gauge(
            "flaf_coordinator_leader", "1 on the replica holding the coordinator lock", registry=registry
        )
        self.jobs_running = Gauge("flaf_jobs_running", "FL jobs being run by this replica", registry=registry)
        self.http_requests = Counter(
            "flaf_http_requests",
            "HTTP requests served",
            ["method", "route", "status_class"],
            registry=registry,
        )
        self.http_duration = Histogram(
            "flaf_http_request_duration_seconds",
            "HTTP request duration",
            ["method", "route"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )

    def observe_nef(self, api: str, status_class: str, seconds: float) -> None:
        self.nef_duration.labels(api, status_class).observe(seconds)
