"""3gpp-musa: member UE selection assistance, notified as arrays of MemUeSeletAssistNotif."""

from __future__ import annotations

from typing import Any

from tests.nef_mock import oracle
from tests.nef_mock.conftest import AF, Nef

BASE = f"/3gpp-musa/v1/{AF}/subscriptions"
UES = [f"msisdn-9100000{i:05d}" for i in range(6)]
UNKNOWN = "msisdn-999999999"


def _check_notif(body: Any) -> None:
    assert isinstance(body, list) and body  # the callback body is an array (minItems 1)
    for notif in body:
        oracle.check(oracle.MUSA, "MemUeSeletAssistNotif", notif)


async def test_selection_by_rat_and_transfer_time(nef: Nef) -> None:
    # Prepare: everything connected qualifies on RAT; a 1 MB upload within 60 s is easy for any link
    body = {
        "tgtUes": [*UES, UNKNOWN],
        "notifUri": nef.cb("musa"),
        "notifId": "sel-1",
        "accRatTypeFilters": [{"events": ["RAT_TY_CH"], "ratTypes": ["NR"], "dnn": "internet"}],
        "e2eTransTimeFilters": [
            {
                "event": "E2E_DATA_VOL_TRANS_TIME",
                "appId": "fl-smallcnn",
                "dataVolTransTime": {"uplinkVolume": 1_000_000, "avgTransTimeUl": 60_000},
            }
        ],
    }
    # Execute
    resp = await nef.client.post(BASE, json=body)
    # Assert
    assert resp.status_code == 201, resp.text
    sub = resp.json()
    oracle.check(oracle.MUSA, "MemUeSelectAssistSubsc", sub)
    assert resp.headers["location"].startswith(f"http://nef.test{BASE}/")
    [notif] = await nef.receiver.wait(lambda p, _: p == "/cb/musa")
    _check_notif(notif)
    [info] = notif[0]["candiUeInfos"]
    connected = [g for g in UES if nef.state.radio.link(g).connected]
    assert info["candiUes"] == connected
    assert UNKNOWN not in info["candiUes"]
    assert notif[0]["memUeSelectRpts"] == [
        {"criterionType": "ACCESS_RAT_TYPE", "numForCriterion": len(connected)},
        {"criterionType": "E2E_DATA_VOLUME_TRANSFER_TIME", "numForCriterion": len(connected)},
    ]
    assert {"startTime", "stopTime"} <= info["remdTimeWin"].keys()


async def test_location_filter_keeps_the_ues_of_a_cell(nef: Nef) -> None:
    # Prepare
    cell = nef.state.radio.link(UES[0]).cell_id
    in_cell = [g for g in UES if nef.state.radio.link(g).cell_id == cell]
    ncgi = {"plmnId": {"mcc": "001", "mnc": "01"}, "nrCellId": cell}
    body = {
        "tgtUes": UES,
        "notifUri": nef.cb("loc"),
        "notifId": "sel-loc",
        "ueLocFilters": [{"event": "LOCATION_REPORT", "loc": {"nwAreaInfo": {"ncgis": [ncgi]}}}],
        "dnnFilters": [{"dnn": "internet"}],
    }
    # Execute
    resp = await nef.client.post(BASE, json=body)
    # Assert
    assert resp.status_code == 201, resp.text
    [notif] = await nef.receiver.wait(lambda p, _: p == "/cb/loc")
    _check_notif(notif)
    assert notif[0]["candiUeInfos"][0]["candiUes"] == in_cell


async def test_no_notification_while_no_ue_qualifies_then_put_and_delete(nef: Nef) -> None:
    # Prepare: nobody uploads 132 MB within 1 ms
    impossible = {"dataVolTransTime": {"uplinkVolume": 132_000_000, "avgTransTimeUl": 1}}
    body = {"tgtUes": UES, "notifUri": nef.cb("none"), "notifId": "none", "e2eTransTimeFilters": [impossible]}
    created = await nef.client.post(BASE, json=body)
    assert created.status_code == 201
    url = created.headers["location"]
    # Execute: relax the criterion by PUT; the new selection is notified at once
    put = await nef.client.put(
        url, json=body | {"e2eTransTimeFilters": None, "qosFilters": [{"ulDelay": 100}]}
    )
    # Assert
    assert put.status_code == 200, put.text
    oracle.check(oracle.MUSA, "MemUeSelectAssistSubsc", put.json())
    [notif] = await nef.receiver.wait(lambda p, _: p == "/cb/none")
    _check_notif(notif)
    assert notif[0]["memUeSelectRpts"][0]["criterionType"] == "QOS"
    assert len(nef.receiver.at("/cb/none")) == 1  # nothing was sent for the empty selection
    assert (await nef.client.get(BASE)).json() == [put.json()]  # MemUeSelectAssistSubsc has no self
    read = (await nef.client.get(url)).json()
    assert read["qosFilters"] == [{"ulDelay": 100}]
    oracle.check(oracle.MUSA, "MemUeSelectAssistSubsc", read)
    assert (await nef.client.delete(url)).status_code == 204
    assert (await nef.client.get(url)).status_code == 404


async def test_musa_refusals(nef: Nef) -> None:
    no_filter = {"tgtUes": UES, "notifUri": nef.cb("x"), "notifId": "x"}
    supi = no_filter | {"tgtUes": ["imsi-001010000000001"], "dnnFilters": [{"dnn": "internet"}]}
    empty = no_filter | {"tgtUes": [], "dnnFilters": [{"dnn": "internet"}]}
    for body, param in [(no_filter, "/accRatTypeFilters"), (supi, "/tgtUes/0"), (empty, "/tgtUes")]:
        resp = await nef.client.post(BASE, json=body)
        assert resp.status_code == 400, resp.text
        assert param in [p["param"] for p in resp.json()["invalidParams"]]
        oracle.check(oracle.COMMON, "ProblemDetails", resp.json())
