"""3gpp-monitoring-event: one-time and continuous location, loss of connectivity, reachability, CRUD."""

from __future__ import annotations

from tests.nef_mock import oracle
from tests.nef_mock.conftest import AF, MSISDN, UE, Nef

BASE = f"/3gpp-monitoring-event/v1/{AF}/subscriptions"


async def test_one_time_location_is_answered_at_once_with_the_serving_ncgi(nef: Nef) -> None:
    # Execute
    resp = await nef.client.post(
        BASE,
        json={
            "msisdn": MSISDN,
            "monitoringType": "LOCATION_REPORTING",
            "locationType": "CURRENT_LOCATION",
            "accuracy": "CGI_ECGI",
            "maximumNumberOfReports": 1,
            "notificationDestination": nef.cb("mon"),
        },
    )
    # Assert
    assert resp.status_code == 200, resp.text
    report = resp.json()
    oracle.check(oracle.MONITORING, "MonitoringEventReport", report)
    link = nef.state.radio.link(UE)
    assert report["msisdn"] == MSISDN
    assert report["locationInfo"]["cellId"] == link.cell_id
    nr = report["locationInfo"]["userLocation"]["nrLocation"]
    assert nr["ncgi"] == {"plmnId": {"mcc": "001", "mnc": "01"}, "nrCellId": link.cell_id}
    assert nr["tai"]["tac"] == link.tac
    assert link.cell_id in {c.cell_id for c in nef.state.radio.scenario.cells if c.band == link.band}


async def test_periodic_location_reports_until_the_maximum_then_cancels(nef: Nef) -> None:
    # Prepare
    body = {
        "msisdn": MSISDN,
        "monitoringType": "LOCATION_REPORTING",
        "repPeriod": 1,
        "immediateRep": True,
        "maximumNumberOfReports": 2,
        "notificationDestination": nef.cb("loc"),
    }
    # Execute
    resp = await nef.client.post(BASE, json=body)
    # Assert: created, with Location == self and the immediate report inside
    assert resp.status_code == 201, resp.text
    sub = resp.json()
    oracle.check(oracle.MONITORING, "MonitoringEventSubscription", sub)
    assert resp.headers["location"] == sub["self"]
    assert sub["self"].startswith(f"http://nef.test{BASE}/")
    assert sub["monitoringEventReport"]["locationInfo"]["cellId"]
    [notif] = await nef.receiver.wait(lambda p, _: p == "/cb/loc", timeout=5)
    oracle.check(oracle.MONITORING, "MonitoringNotification", notif)
    assert notif["subscription"] == sub["self"]
    assert notif["cancelInd"] is True  # the second report was the last
    gone = await nef.client.get(sub["self"])
    assert gone.status_code == 404


async def test_loss_of_connectivity_and_reachability_follow_the_radio_link(nef: Nef) -> None:
    # Prepare
    common = {"msisdn": MSISDN, "monitorExpireTime": "2099-01-01T00:00:00Z"}
    loss_body = {"monitoringType": "LOSS_OF_CONNECTIVITY", "notificationDestination": nef.cb("loss")}
    up_body = {
        "monitoringType": "UE_REACHABILITY",
        "reachabilityType": "DATA",
        "notificationDestination": nef.cb("up"),
    }
    lost = await nef.client.post(BASE, json=common | loss_body)
    back = await nef.client.post(BASE, json=common | up_body)
    assert lost.status_code == back.status_code == 201
    # Execute: the radio link drops, then comes back
    await nef.client.put(f"/emulator/v1/ues/{UE}/override", json={"connected": False})
    [loss] = await nef.receiver.wait(lambda p, _: p == "/cb/loss")
    await nef.client.put(f"/emulator/v1/ues/{UE}/override", json={"connected": True})
    [up] = await nef.receiver.wait(lambda p, _: p == "/cb/up")
    # Assert
    for notif in (loss, up):
        oracle.check(oracle.MONITORING, "MonitoringNotification", notif)
    assert loss["subscription"] == lost.json()["self"]
    assert loss["monitoringEventReports"][0] == loss["monitoringEventReports"][0] | {
        "monitoringType": "LOSS_OF_CONNECTIVITY",
        "msisdn": MSISDN,
        "lossOfConnectReason": 7,
    }
    assert up["monitoringEventReports"][0]["reachabilityType"] == "DATA"
    assert len(nef.receiver.at("/cb/loss")) == 1  # one loss, one report


async def test_crud_put_patch_delete(nef: Nef) -> None:
    # Prepare
    body = {
        "externalId": "ignored@example.com",
        "msisdn": MSISDN,
        "monitoringType": "LOCATION_REPORTING",
        "repPeriod": 60,
        "maximumNumberOfReports": 10,
        "notificationDestination": nef.cb("crud"),
        "requestTestNotification": True,
        "vendorExtension": {"kept": True},
    }
    created = await nef.client.post(BASE, json=body)
    assert created.status_code == 201, created.text
    url = created.json()["self"]
    # Execute / Assert: test notification, list, read
    [test_notif] = await nef.receiver.wait(lambda p, _: p == "/cb/crud")
    assert test_notif == {"subscription": url}
    oracle.check(oracle.MONITORING, "MonitoringNotification", test_notif)
    listed = (await nef.client.get(BASE)).json()
    assert [s["self"] for s in listed] == [url]
    for s in listed:
        oracle.check(oracle.MONITORING, "MonitoringEventSubscription", s)
    read = (await nef.client.get(url)).json()
    assert read["vendorExtension"] == {"kept": True}  # unknown attributes are kept
    # PUT replaces
    put = await nef.client.put(url, json=body | {"repPeriod": 30})
    assert put.status_code == 200 and put.json()["repPeriod"] == 30
    oracle.check(oracle.MONITORING, "MonitoringEventSubscription", put.json())
    # PATCH (JSON Patch)
    patch = await nef.client.patch(
        url,
        content=b'[{"op": "replace", "path": "/repPeriod", "value": 5}]',
        headers={"content-type": "application/json-patch+json"},
    )
    assert patch.status_code == 204, patch.text
    assert (await nef.client.get(url)).json()["repPeriod"] == 5
    bad = await nef.client.patch(
        url,
        content=b'[{"op": "replace", "path": "/repPeriod", "value": "soon"}]',
        headers={"content-type": "application/json-patch+json"},
    )
    assert bad.status_code == 400
    assert [p["param"] for p in bad.json()["invalidParams"]] == ["/repPeriod"]
    # DELETE
    assert (await nef.client.delete(url)).status_code == 204
    again = await nef.client.delete(url)
    assert again.status_code == 404
    oracle.check(oracle.COMMON, "ProblemDetails", again.json())


async def test_unknown_ue_and_unsupported_type_are_refused(nef: Nef) -> None:
    # Execute
    unknown = await nef.client.post(
        BASE,
        json={
            "externalId": "nobody@example.com",
            "monitoringType": "LOCATION_REPORTING",
            "maximumNumberOfReports": 1,
            "notificationDestination": nef.cb("x"),
        },
    )
    unsupported = await nef.client.post(
        BASE,
        json={
            "msisdn": MSISDN,
            "monitoringType": "FUTURE_MONITORING_TYPE",
            "maximumNumberOfReports": 1,
            "notificationDestination": nef.cb("x"),
        },
    )
    # Assert
    assert unknown.status_code == 404
    assert unknown.json()["cause"] == "USER_NOT_FOUND"
    assert unknown.json()["invalidParams"][0]["param"] == "/externalId"
    assert unsupported.status_code == 400
    assert unsupported.json()["invalidParams"][0]["param"] == "/monitoringType"
    for resp in (unknown, unsupported):
        assert resp.headers["content-type"] == "application/problem+json"
        oracle.check(oracle.COMMON, "ProblemDetails", resp.json())
