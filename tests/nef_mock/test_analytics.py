"""3gpp-analyticsexposure: E2E transfer time, QoS sustainability and UE mobility, fetch and subscriptions."""

from __future__ import annotations

from typing import Any

from nef_mock.routes.common import iso
from tests.nef_mock import oracle
from tests.nef_mock.conftest import AF, UE, Nef

FETCH = f"/3gpp-analyticsexposure/v1/{AF}/fetch"
SUBS = f"/3gpp-analyticsexposure/v1/{AF}/subscriptions"
VGG16 = 132_000_000  # TR 22.874: 132 MB per update


def _e2e(nef: Nef, start: float, end: float, **tgt: Any) -> dict[str, Any]:
    return {
        "analyEvent": "E2E_DATA_VOL_TRANS_TIME",
        "suppFeat": "0",
        "tgtUe": tgt or {"gpsi": UE},
        "analyEventFilter": {
            "dataVlTrnsTmRqs": [
                {"dataVolume": {"uplinkVolume": VGG16, "downlinkVolume": VGG16}, "repeatDataTrans": 1}
            ]
        },
        "analyRep": {"startTs": iso(start), "endTs": iso(end)},
    }


async def test_predicted_transfer_time_for_one_ue(nef_fake_clock: Nef) -> None:
    # Prepare
    nef = nef_fake_clock
    now = nef.state.clock()
    # Execute
    resp = await nef.client.post(FETCH, json=_e2e(nef, now + 1, now + 3))
    # Assert
    assert resp.status_code == 200, resp.text
    data = resp.json()
    oracle.check(oracle.ANALYTICS, "AnalyticsData", data)
    [info] = data["dataVlTrnsTmInfos"]
    [slot] = info["e2eDataVolTransTimes"]
    [ue] = slot["e2eDataVolTransTimePerUe"]
    assert ue["gpsi"] == UE and slot["tsDuration"] == 2
    fc = nef.state.radio.forecast(UE, 1.0, 2.0)  # same step, same inputs: the radio model's cached forecast
    ul_s, ul_var, dl_s, _ = fc.transfer_time(VGG16, VGG16)
    dvtt = ue["dataVolTransTime"]
    assert dvtt["uplinkVolume"] == VGG16 and dvtt["avgTransTimeUl"] == round(ul_s * 1000)
    assert dvtt["avgTransTimeDl"] == round(dl_s * 1000)
    assert abs(dvtt["varTransTimeUl"] - ul_var * 1e6) <= 1e-6 * max(1.0, ul_var * 1e6)
    assert info["confidence"] == round(100 * fc.connected_share)


async def test_past_window_gives_statistics_and_spanning_now_is_refused(nef_fake_clock: Nef) -> None:
    # Prepare: let 30 s of radio history accumulate
    nef = nef_fake_clock
    assert nef.clock is not None
    nef.clock.advance(30)
    now = nef.state.clock()
    # Execute
    past = await nef.client.post(FETCH, json=_e2e(nef, now - 20, now - 10))
    spanning = await nef.client.post(FETCH, json=_e2e(nef, now - 5, now + 5))
    before_start = await nef.client.post(FETCH, json=_e2e(nef, now - 3600, now - 3500))
    # Assert
    assert past.status_code == 200, past.text
    oracle.check(oracle.ANALYTICS, "AnalyticsData", past.json())
    assert past.json()["dataVlTrnsTmInfos"][0]["confidence"] == 100  # measured, not predicted
    assert spanning.status_code == 400
    assert spanning.json()["cause"] == "BOTH_STAT_PRED_NOT_ALLOWED"
    assert spanning.json()["invalidParams"][0]["param"] == "/analyRep/startTs"
    oracle.check(oracle.COMMON, "ProblemDetails", spanning.json())
    assert before_start.status_code == 204  # no history that far back


async def test_any_ue_covers_the_population(nef: Nef) -> None:
    now = nef.state.clock()
    resp = await nef.client.post(FETCH, json=_e2e(nef, now + 0.5, now + 1.5, anyUeInd=True))
    assert resp.status_code == 200
    oracle.check(oracle.ANALYTICS, "AnalyticsData", resp.json())
    gpsis = {
        i["e2eDataVolTransTimes"][0]["e2eDataVolTransTimePerUe"][0]["gpsi"]
        for i in resp.json()["dataVlTrnsTmInfos"]
    }
    assert gpsis == set(nef.state.radio.gpsis())


async def test_qos_sustainability_reports_cells_below_the_threshold(nef: Nef) -> None:
    # Prepare
    now = nef.state.clock()
    cell = nef.state.radio.link(UE).cell_id

    def req(threshold: str) -> dict[str, Any]:
        return {
            "analyEvent": "QOS_SUSTAINABILITY",
            "suppFeat": "0",
            "analyEventFilter": {
                "locArea": {
                    "nwAreaInfo": {"ncgis": [{"plmnId": {"mcc": "001", "mnc": "01"}, "nrCellId": cell}]}
                },
                "qosReq": {"5qi": 9},
                "ranUeThrouThds": [threshold],
                "temporalGranSize": 1,
            },
            "analyRep": {"startTs": iso(now + 1), "endTs": iso(now + 3)},
        }

    # Execute
    crossed = await nef.client.post(FETCH, json=req("20.3 Gbps"))
    sustained = await nef.client.post(FETCH, json=req("1 bps"))
    # Assert
    assert crossed.status_code == 200, crossed.text
    oracle.check(oracle.ANALYTICS, "AnalyticsData", crossed.json())
    infos = crossed.json()["qosSustainInfos"]
    assert len(infos) == 2  # two 1 s slots
    assert {i["locArea"]["nwAreaInfo"]["ncgis"][0]["nrCellId"] for i in infos} == {cell}
    assert all(i["ranUeThrouThd"] == "20.3 Gbps" and i["confidence"] == 100 for i in infos)
    assert sustained.status_code == 204


async def test_ue_mobility_gives_cells_and_time_ratios(nef: Nef) -> None:
    now = nef.state.clock()
    body = {
        "analyEvent": "UE_MOBILITY",
        "suppFeat": "0",
        "tgtUe": {"gpsi": UE},
        "analyRep": {"startTs": iso(now + 1), "endTs": iso(now + 6)},
    }
    resp = await nef.client.post(FETCH, json=body)
    assert resp.status_code == 200, resp.text
    oracle.check(oracle.ANALYTICS, "AnalyticsData", resp.json())
    [mob] = resp.json()["ueMobilityInfos"]
    assert mob["duration"] == 5
    cells = [i["loc"]["nwAreaInfo"]["ncgis"][0]["nrCellId"] for i in mob["locInfo"]]
    link = nef.state.radio.link(UE)
    assert link.cell_id in cells
    assert sum(i.get("ratio", 0) for i in mob["locInfo"]) <= 101  # rounding


async def test_subscription_reports_periodically_and_lists_failures(nef: Nef) -> None:
    # Prepare
    now = nef.state.clock()
    e2e_filter = {
        "dataVlTrnsTmRqs": [{"dataVolume": {"uplinkVolume": 10_000_000}, "repeatDataTrans": 1}],
    }
    body = {
        "analyEventsSubs": [
            {"analyEvent": "E2E_DATA_VOL_TRANS_TIME", "analyEventFilter": e2e_filter, "tgtUe": {"gpsi": UE}},
            {"analyEvent": "UE_COMM", "tgtUe": {"gpsi": UE}},
            {
                "analyEvent": "UE_MOBILITY",
                "tgtUe": {"gpsi": UE},
                "analyEventFilter": {"extraReportReq": {"startTs": iso(now - 10), "endTs": iso(now + 10)}},
            },
        ],
        "analyRepInfo": {"immRep": True, "notifMethod": "PERIODIC", "repPeriod": 1, "maxReportNbr": 2},
        "notifUri": nef.cb("an"),
        "notifId": "round-7",
        "suppFeat": "0",
    }
    # Execute
    resp = await nef.client.post(SUBS, json=body)
    # Assert: created, with the immediate report and the events it cannot serve
    assert resp.status_code == 201, resp.text
    sub = resp.json()
    oracle.check(oracle.ANALYTICS, "AnalyticsExposureSubsc", sub)
    assert resp.headers["location"] == sub["self"]
    assert sub["failEventReports"] == [
        {"event": "UE_COMM", "failureCode": "UNAVAILABLE_DATA"},
        {"event": "UE_MOBILITY", "failureCode": "BOTH_STAT_PRED_NOT_ALLOWED"},
    ]
    [imm] = sub["eventNotifis"]
    assert imm["analyEvent"] == "E2E_DATA_VOL_TRANS_TIME" and imm["dataVlTrnsTmIfs"]
    listed = (await nef.client.get(SUBS)).json()
    read = (await nef.client.get(sub["self"])).json()
    assert listed == [read] and read["self"] == sub["self"]
    for resource in (read, *listed):
        oracle.check(oracle.ANALYTICS, "AnalyticsExposureSubsc", resource)
    # the second (and last) report arrives as a notification; then the subscription ends
    [notif] = await nef.receiver.wait(lambda p, _: p == "/cb/an")
    oracle.check(oracle.ANALYTICS, "AnalyticsEventNotification", notif)
    assert notif["notifId"] == "round-7"
    assert (
        notif["analyEventNotifs"][0]["dataVlTrnsTmIfs"][0]["e2eDataVolTransTimes"][0][
            "e2eDataVolTransTimePerUe"
        ][0]["gpsi"]
        == UE
    )
    assert (await nef.client.get(sub["self"])).status_code == 404


async def test_subscription_put_and_delete(nef: Nef) -> None:
    body = {
        "analyEventsSubs": [{"analyEvent": "UE_MOBILITY", "tgtUe": {"gpsi": UE}}],
        "notifUri": nef.cb("mob"),
        "notifId": "mob",
    }
    created = await nef.client.post(SUBS, json=body)
    assert created.status_code == 201
    url = created.json()["self"]
    first = await nef.receiver.wait(lambda p, _: p == "/cb/mob")  # ON_EVENT_DETECTION: the first evaluation
    oracle.check(oracle.ANALYTICS, "AnalyticsEventNotification", first[0])
    put = await nef.client.put(url, json=body | {"notifId": "mob-2"})
    assert put.status_code == 200 and put.json()["notifId"] == "mob-2" and put.json()["self"] == url
    oracle.check(oracle.ANALYTICS, "AnalyticsExposureSubsc", put.json())
    assert (await nef.client.delete(url)).status_code == 204
    assert (await nef.client.get(url)).status_code == 404


async def test_analytics_refusals(nef: Nef) -> None:
    now = nef.state.clock()
    no_volume = _e2e(nef, now + 1, now + 2)
    no_volume["analyEventFilter"] = {}
    cases = [
        (no_volume, 400, "/analyEventFilter/dataVlTrnsTmRqs/0/dataVolume"),
        (_e2e(nef, now + 1, now + 2, gpsi="msisdn-555555555"), 404, "/tgtUe/gpsi"),
        ({"analyEvent": "QOS_SUSTAINABILITY", "suppFeat": "0"}, 400, "/analyEventFilter/ranUeThrouThds"),
        ({"analyEvent": "UE_COMM", "suppFeat": "0"}, 400, "/analyEvent"),
        ({"analyEvent": "UE_MOBILITY"}, 400, "/suppFeat"),
        (_e2e(nef, now + 2, now + 1), 400, "/analyRep/endTs"),
    ]
    for body, status, param in cases:
        resp = await nef.client.post(FETCH, json=body)
        assert resp.status_code == status, (body, resp.text)
        assert param in [p["param"] for p in resp.json()["invalidParams"]], resp.json()
        oracle.check(oracle.COMMON, "ProblemDetails", resp.json())
