"""QoS boosts and connectivity watches against the real NEF mock (in-process), and what their
notifications do to a running iteration."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from af_server.aggregation import Aggregator
from af_server.nef_client import NefClient
from af_server.netctl import NetworkControl
from af_server.rounds import ActiveRound, Collection
from af_server.schemas import JobSpec, JobState, UeChoice
from af_server.selection import Candidate, Prediction
from af_server.settings import AfSettings
from flcore.models import build_model, float_state, model_spec
from tests.nef_mock.conftest import Nef, running_nef

QOS = "/3gpp-as-session-with-qos/v1/fl5g-af/subscriptions"
FAST, SLOW, OTHER = "msisdn-910000000000", "msisdn-910000000001", "msisdn-910000000002"
MB = 1_000_000


def candidate(gpsi: str, ul_mbps: float, cell: str) -> Candidate:
    # 1 MB up at ul_mbps: the NEF's prediction behind the choice
    p = Prediction(0.01, 0.0, 8.0 / ul_mbps, 0.0, 1.0, ul_bytes=MB, dl_bytes=MB)
    return Candidate(gpsi, 100, 0.01, prediction=p, cell_id=cell)


def qos(c: UeChoice) -> dict[str, Any]:
    status = c.nef["qos"]
    assert isinstance(status, dict)
    return status


async def sessions(nef: Nef) -> list[dict[str, Any]]:
    r = await nef.client.get(QOS)
    assert r.status_code == 200
    return list(r.json())


@pytest.fixture
async def env() -> Any:
    async with running_nef() as nef:
        client = NefClient(
            "http://nef.test", af_id="fl5g-af", client_id=None, client_secret=None, http=nef.client
        )
        # a GBR the default scenario's links can give: 10 Mbit/s up (the catalogue's fl-dl-boost)
        settings = AfSettings(dev_mode=True, qos_boost_reference="fl-dl-boost", qos_boost_min_ul_bps=10e6)

        async def uri(kind: str, correlation: str) -> str:
            return nef.cb(f"{kind}/{correlation}")

        yield nef, NetworkControl(settings, client, uri)


async def test_boost_asked_for_the_ues_that_can_use_it_and_released_after(env: Any) -> None:
    nef, net = env
    choices = [UeChoice(gpsi=g, reason="test") for g in (FAST, SLOW, OTHER)]
    cands = {FAST: candidate(FAST, 100, "A"), SLOW: candidate(SLOW, 1, "B"), OTHER: candidate(OTHER, 50, "C")}
    await net.boost("job1", choices, cands, window_s=30)

    live = {s["gpsi"]: s for s in await sessions(nef)}
    assert set(live) == {FAST, OTHER}
    assert live[FAST]["qosReference"] == "fl-dl-boost" and live[FAST]["qosDuration"] == 30
    assert live[FAST]["notificationDestination"] == nef.cb("qos/job1")
    assert qos(choices[0])["status"] == "requested"
    assert qos(choices[1])["status"] == "not_requested"  # 1 Mbit/s cannot carry a 10 Mbit/s GBR
    # the NEF confirms the grant: the status the UE's record carries follows
    await nef.receiver.wait(
        lambda p, b: p == "/cb/qos/job1" and any(r["event"] == "QOS_GUARANTEED" for r in b["eventReports"]),
        count=2,
    )
    for _, body in nef.receiver.received:
        drops, releases = net.interpret("qos", body)
        assert drops == [] and releases == []
    assert qos(choices[0])["status"] == "guaranteed"

    # chosen again while the session still covers the window: the same session, no new one
    again = [UeChoice(gpsi=FAST, reason="test")]
    await net.boost("job1", again, cands, window_s=10)
    assert again[0].nef["qos"] is choices[0].nef["qos"] and len(await sessions(nef)) == 2

    await net.release("job1", [OTHER])
    assert [s["gpsi"] for s in await sessions(nef)] == [FAST]
    await net.release("job1")
    assert await sessions(nef) == []
    assert qos(choices[0])["released"] is True


async def test_a_cell_gets_only_the_boosts_it_can_carry(env: Any) -> None:
    nef, net = env
    # 15 Mbit/s predicted up each, in one cell: 10/15 of its uplink time for the first GBR, no room for two
    cands = {g: candidate(g, 15, "A") for g in (FAST, SLOW)}
    choices = [UeChoice(gpsi=g, reason="test") for g in cands]
    await net.boost("job2", choices, cands, window_s=30)
    assert [qos(c)["status"] for c in choices] == ["requested", "not_requested"]
    assert len(await sessions(nef)) == 1
    await net.close()
    assert await sessions(nef) == []


async def test_a_lost_guarantee_and_a_lost_connection_drop_the_ue(env: Any) -> None:
    nef, net = env
    choices = [UeChoice(gpsi=FAST, reason="test")]
    await net.boost("job3", choices, {FAST: candidate(FAST, 100, "A")}, window_s=30)
    await net.watch([FAST])
    await nef.receiver.wait(
        lambda p, b: p == "/cb/qos/job3" and any(r["event"] == "QOS_GUARANTEED" for r in b["eventReports"])
    )
    for _, body in nef.receiver.received:
        net.interpret("qos", body)

    r = await nef.client.put(f"/emulator/v1/ues/{FAST}/override", json={"connected": False})
    assert r.status_code == 200
    lost = await nef.receiver.wait(
        lambda p, b: (
            p == "/cb/qos/job3" and any(r["event"] == "QOS_NOT_GUARANTEED" for r in b["eventReports"])
        )
    )
    drops, releases = net.interpret("qos", lost[0])
    assert [(d.gpsi, d.event, d.job_id) for d in drops] == [(FAST, "QOS_NOT_GUARANTEED", "job3")]
    await net.release_boosts(releases)
    assert await sessions(nef) == []
    gone = await nef.receiver.wait(
        lambda p, b: (
            p == "/cb/monitoring/connectivity"
            and any(
                r.get("monitoringType") == "LOSS_OF_CONNECTIVITY" for r in b.get("monitoringEventReports", [])
            )
        )
    )
    drops, _ = net.interpret("monitoring", gone[0])
    assert [(d.gpsi, d.event) for d in drops] == [(FAST, "LOSS_OF_CONNECTIVITY")]
    await net.close()


def test_a_dropped_ue_is_missing_and_no_longer_awaited() -> None:
    spec = JobSpec(rounds=2)
    job = JobState(id=uuid.uuid4().hex[:12], spec=spec, created_at=0, updated_at=0)
    ms = model_spec(float_state(build_model("smallcnn")))
    owed = {g: UeChoice(gpsi=g, reason="test") for g in (FAST, SLOW)}
    rnd = ActiveRound(job, 0, 0, dict(owed), 5.0, Collection(0, 0, owed, Aggregator(ms)), "deadline")
    rnd.record(rnd.collect, SLOW, "on_time")
    assert not rnd.collect.complete.is_set()
    [rec] = rnd.drop(FAST, "dropped: NEF QOS_NOT_GUARANTEED")
    assert (rec.gpsi, rec.outcome, rec.detail) == (FAST, "missing", "dropped: NEF QOS_NOT_GUARANTEED")
    assert rnd.collect.complete.is_set()  # nothing left to wait for: the iteration may close now
    assert rnd.drop(FAST, "again") == [] and not rnd.wants(FAST)
