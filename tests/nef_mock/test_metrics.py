"""The NEF mock's Prometheus metrics, on the registry it was given."""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from tests.nef_mock.conftest import AF, Nef

EXPECTED = {
    "nef_http_requests",
    "nef_http_request_duration_seconds",
    "nef_radio_ues",
    "nef_radio_cell_active_transfers",
    "nef_notifications",
}


async def test_metrics_count_requests_notifications_and_radio_state(nef: Nef) -> None:
    # Prepare: one request, one notification
    await nef.client.get(f"/3gpp-musa/v1/{AF}/subscriptions")
    await nef.client.post(
        f"/3gpp-monitoring-event/v1/{AF}/subscriptions",
        json={
            "msisdn": "910000000000",
            "monitoringType": "LOSS_OF_CONNECTIVITY",
            "maximumNumberOfReports": 5,
            "notificationDestination": nef.cb("m"),
            "requestTestNotification": True,
        },
    )
    await nef.receiver.wait(lambda p, _: p == "/cb/m")
    # Execute
    resp = await nef.client.get("/metrics")
    # Assert
    assert resp.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(resp.text)}
    assert EXPECTED <= families.keys()
    samples = [s for f in families.values() for s in f.samples]

    def value(name: str, **labels: str) -> float:
        return sum(s.value for s in samples if s.name == name and labels.items() <= s.labels.items())

    assert value("nef_http_requests_total", api="3gpp-musa", method="GET", status_class="2xx") == 1
    assert value("nef_notifications_total", api="3gpp-monitoring-event", outcome="delivered") == 1
    assert value("nef_radio_ues") == len(nef.state.radio.gpsis())
    assert {s.labels["band"] for s in samples if s.name == "nef_radio_ues"} == {"FR1", "FR2", "none"}


async def test_probes(nef: Nef) -> None:
    assert (await nef.client.get("/livez")).json() == {"status": "ok"}
    assert (await nef.client.get("/readyz")).status_code == 200


def test_each_app_owns_its_registry() -> None:
    from nef_mock.app import create_app
    from tests.nef_mock.conftest import dev_settings

    a, b = CollectorRegistry(), CollectorRegistry()
    create_app(dev_settings(), registry=a)
    create_app(dev_settings(), registry=b)  # a second app does not clash with the first
    assert a.get_sample_value("nef_notifications_total", {"api": "x", "outcome": "y"}) is None
