"""3gpp-as-session-with-qos: the qosReference catalogue, GBR grants in the radio model, events, CRUD."""

from __future__ import annotations

from typing import Any

import pytest

from tests.nef_mock import oracle
from tests.nef_mock.conftest import AF, UE, Nef

BASE = f"/3gpp-as-session-with-qos/v1/{AF}/subscriptions"


def _body(nef: Nef, ref: str, **extra: object) -> dict[str, object]:
    return {
        "gpsi": UE,
        "dnn": "internet",
        "snssai": {"sst": 1, "sd": "000001"},
        "notificationDestination": nef.cb("qos"),
        "flowInfo": [{"flowId": 1, "flowDescriptions": ["permit out ip from 198.51.100.10 to 10.45.0.7"]}],
        "qosReference": ref,
        "qosDuration": 600,
        **extra,
    }


async def test_catalogue_lists_the_fl_uplink_boost(nef: Nef) -> None:
    resp = await nef.client.get("/nef/v1/qos-references")
    assert resp.status_code == 200
    refs = {e["qosReference"]: e for e in resp.json()}
    assert refs["fl-ul-boost"]["5qi"] == 71 and refs["fl-ul-boost"]["resType"] == "GBR"
    assert refs["fl-ul-boost"]["gfbrUl"].endswith("bps")


async def test_create_grants_gbr_reports_events_and_delete_revokes(nef: Nef) -> None:
    # Prepare
    body = _body(
        nef,
        "fl-ul-boost",
        events=["SUCCESSFUL_RESOURCES_ALLOCATION", "QOS_GUARANTEED", "QOS_NOT_GUARANTEED", "QOS_MONITORING"],
        qosMonInfo={
            "reqQosMonParams": ["UPLINK_DATA_RATE", "DOWNLINK_DATA_RATE"],
            "repFreqs": ["PERIODIC"],
            "repPeriod": 1,
        },
    )
    # Execute
    resp = await nef.client.post(BASE, json=body)
    # Assert: created, and a GBR grant exists in the radio model
    assert resp.status_code == 201, resp.text
    sub = resp.json()
    oracle.check(oracle.QOS, "AsSessionWithQoSSubscription", sub)
    assert resp.headers["location"] == sub["self"]
    [stored] = nef.state.store.list("3gpp-as-session-with-qos")
    grant = stored.state.grant
    nef.state.radio.gbr_satisfied(grant)  # known to the radio model (KeyError otherwise)

    # events: allocation, then guaranteed-or-not, then monitoring with data rates
    def events(body: dict[str, Any]) -> set[str]:
        return {r["event"] for r in body["eventReports"]}

    notifs = await nef.receiver.wait(lambda p, b: p == "/cb/qos" and "QOS_MONITORING" in events(b), timeout=5)
    everything = nef.receiver.at("/cb/qos")
    for notif in everything:
        oracle.check(oracle.QOS, "UserPlaneNotificationData", notif)
        assert notif["transaction"] == sub["self"]
    seen = set().union(*(events(n) for n in everything))
    assert "SUCCESSFUL_RESOURCES_ALLOCATION" in seen
    assert seen & {"QOS_GUARANTEED", "QOS_NOT_GUARANTEED"}
    mon = next(r for r in notifs[0]["eventReports"] if r["event"] == "QOS_MONITORING")
    assert mon["flowIds"] == [1]
    assert mon["qosMonReports"][0]["ulDataRate"].endswith("bps")
    # Execute: delete
    assert (await nef.client.delete(sub["self"])).status_code == 204
    # Assert: the grant is gone from the radio model
    with pytest.raises(KeyError):
        nef.state.radio.gbr_satisfied(grant)


async def test_an_unreachable_gbr_is_reported_not_guaranteed(nef: Nef) -> None:
    # 20.3 Gbps uplink (TR 22.874's 52 ms budget) is beyond any single FR2 carrier in the model
    resp = await nef.client.post(BASE, json=_body(nef, "fl-fr2-uplink-20g", events=["QOS_NOT_GUARANTEED"]))
    assert resp.status_code == 201
    [notif] = await nef.receiver.wait(lambda p, _: p == "/cb/qos")
    oracle.check(oracle.QOS, "UserPlaneNotificationData", notif)
    assert notif["eventReports"] == [
        {"event": "QOS_NOT_GUARANTEED", "flowIds": [1], "appliedQosRef": "fl-fr2-uplink-20g"}
    ]


async def test_merge_patch_and_put_regrant(nef: Nef) -> None:
    # Prepare
    created = await nef.client.post(BASE, json=_body(nef, "fl-ul-boost"))
    url = created.json()["self"]
    [stored] = nef.state.store.list("3gpp-as-session-with-qos")
    first = stored.state.grant
    # Execute: merge patch to another reference
    patched = await nef.client.patch(
        url,
        json={"qosReference": "fl-ul-boost-max", "qosDuration": None},
        headers={"content-type": "application/merge-patch+json"},
    )
    # Assert
    assert patched.status_code == 200, patched.text
    assert patched.json()["qosReference"] == "fl-ul-boost-max"
    assert "qosDuration" not in patched.json()  # null removes (RFC 7396)
    oracle.check(oracle.QOS, "AsSessionWithQoSSubscription", patched.json())
    with pytest.raises(KeyError):
        nef.state.radio.gbr_satisfied(first)
    # bad patches name the attribute
    bad = await nef.client.patch(
        url, json={"qosReference": "no-such-qos"}, headers={"content-type": "application/merge-patch+json"}
    )
    assert bad.status_code == 400 and bad.json()["invalidParams"][0]["param"] == "/qosReference"
    moved = await nef.client.patch(
        url, json={"gpsi": "msisdn-910000000001"}, headers={"content-type": "application/merge-patch+json"}
    )
    assert moved.status_code == 400 and moved.json()["invalidParams"][0]["param"] == "/gpsi"
    # PUT replaces; GET and list agree
    put = await nef.client.put(url, json=_body(nef, "fl-dl-boost"))
    assert put.status_code == 200 and put.json()["qosReference"] == "fl-dl-boost"
    read = await nef.client.get(url)
    listed = await nef.client.get(BASE)
    assert read.json() == put.json() and listed.json() == [put.json()]
    for sub in (put.json(), read.json(), *listed.json()):
        oracle.check(oracle.QOS, "AsSessionWithQoSSubscription", sub)


@pytest.mark.parametrize(
    ("change", "status", "param"),
    [
        ({"qosReference": "no-such-qos"}, 400, "/qosReference"),
        ({"altQoSReferences": ["fl-ul-boost", "nope"]}, 400, "/altQoSReferences/1"),
        ({"gpsi": None}, 400, "/gpsi"),
        ({"gpsi": "msisdn-123456789"}, 404, "/gpsi"),
        ({"gpsi": "imsi-001010000000001"}, 400, "/gpsi"),
        ({"notificationDestination": "not a uri"}, 400, "/notificationDestination"),
    ],
)
async def test_refusals_name_the_attribute(
    nef: Nef, change: dict[str, object], status: int, param: str
) -> None:
    body = {k: v for k, v in (_body(nef, "fl-ul-boost") | change).items() if v is not None}
    resp = await nef.client.post(BASE, json=body)
    assert resp.status_code == status, resp.text
    assert param in [p["param"] for p in resp.json()["invalidParams"]]
    oracle.check(oracle.COMMON, "ProblemDetails", resp.json())
    assert nef.state.store.list("3gpp-as-session-with-qos") == []
