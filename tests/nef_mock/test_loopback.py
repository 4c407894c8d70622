"""Real sockets both ways: the NEF on uvicorn, the AF's callback endpoint on another, loopback only."""

from __future__ import annotations

import httpx

from nef_mock.app import create_app
from tests.nef_mock import oracle
from tests.nef_mock.conftest import AF, MSISDN, UE, Receiver, dev_settings
from tests.servers import serve


async def test_loss_of_connectivity_reaches_a_real_callback_server() -> None:
    # Prepare
    receiver = Receiver()
    app = create_app(dev_settings())
    with serve(receiver) as af_url, serve(app) as nef_url:
        async with httpx.AsyncClient(base_url=nef_url, timeout=10) as client:
            created = await client.post(
                f"/3gpp-monitoring-event/v1/{AF}/subscriptions",
                json={
                    "msisdn": MSISDN,
                    "monitoringType": "LOSS_OF_CONNECTIVITY",
                    "maximumNumberOfReports": 1,
                    "notificationDestination": f"{af_url}/callbacks/monitoring",
                },
            )
            assert created.status_code == 201, created.text
            assert created.headers["location"].startswith(nef_url)
            # Execute
            await client.put(f"/emulator/v1/ues/{UE}/override", json={"connected": False})
            [notif] = await receiver.wait(lambda p, _: p == "/callbacks/monitoring", timeout=10)
            # Assert
            oracle.check(oracle.MONITORING, "MonitoringNotification", notif)
            assert notif["subscription"] == created.headers["location"]
            assert notif["cancelInd"] is True  # maximumNumberOfReports 1: the subscription ends with it
            assert (await client.get(created.headers["location"])).status_code == 404
