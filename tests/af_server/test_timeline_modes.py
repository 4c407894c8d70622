"""The AF over real HTTP in both timelines: deadlines enforced, late updates excluded, staleness <= 1."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import torch

from af_server.app import create_app
from af_server.settings import AfSettings
from flcore.codecs import decode, encode
from flcore.models import model_spec
from flcore.wire import bytes_to_state
from tests.servers import serve

pytestmark = pytest.mark.integration

WRITE, ENROLL = "op-write-token", "enroll-key"
OP = {"Authorization": f"Bearer {WRITE}"}


@pytest.fixture
def af(redis_url: str, tmp_path: Path) -> Iterator[str]:
    settings = AfSettings(
        redis_url=redis_url,
        redis_prefix=f"fl5gtest-{uuid.uuid4().hex[:8]}",
        state_dir=tmp_path,
        operator_write_tokens=[WRITE],
        ue_enrollment_keys=[ENROLL],
        lock_ttl_s=2.0,
    )
    with serve(create_app(settings)) as url:
        yield url


async def register(c: httpx.AsyncClient, gpsi: str) -> dict[str, str]:
    r = await c.post(
        "/af/v1/ues", json={"gpsi": gpsi, "num_samples": 100}, headers={"Fl5g-Enrollment-Key": ENROLL}
    )
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


async def task_of(c: httpx.AsyncClient, ue: dict[str, str], after: int = -1) -> dict[str, Any]:
    for _ in range(40):
        r = await c.get("/af/v1/ue/task", params={"wait": 2}, headers=ue)
        if r.status_code == 200 and r.json()["round"] > after:
            return dict(r.json())
        assert r.status_code in (200, 204), r.text
    raise AssertionError("no task")


async def model_of(
    c: httpx.AsyncClient, ue: dict[str, str], task: dict[str, Any]
) -> tuple[dict[str, torch.Tensor], int]:
    r = await c.get(task["model_url"], headers=ue)
    assert r.status_code == 200, r.text
    return bytes_to_state(r.content), int(r.headers["Fl5g-Model-Version"])


def update_of(state: dict[str, torch.Tensor], value: float) -> dict[str, torch.Tensor]:
    return {k: torch.full_like(v, value) for k, v in state.items() if v.is_floating_point()}


async def rounds_of(c: httpx.AsyncClient, job: str, n: int) -> list[dict[str, Any]]:
    for _ in range(200):
        j = (await c.get(f"/af/v1/jobs/{job}", headers=OP)).json()
        rounds = (await c.get(f"/af/v1/jobs/{job}/rounds", headers=OP)).json()
        if len(rounds) >= n and j["status"] == "completed":
            return list(rounds)
        await asyncio.sleep(0.1)  # polling the operator API for the job's end
    raise AssertionError(f"job {job} did not complete {n} rounds")


async def test_sync_updates_after_the_deadline_are_late_or_refused_never_aggregated(af: str) -> None:
    async with httpx.AsyncClient(base_url=af, timeout=30) as c:
        ues = {
            g: await register(c, g)
            for g in ("msisdn-910000000001", "msisdn-910000000002", "msisdn-910000000003")
        }
        spec = {
            "rounds": 1,
            "ues_per_round": 3,
            "selection": "all",
            "eval_every": 100,
            "deadline": {"mode": "fixed", "seconds": 1.5},
        }
        job = (await c.post("/af/v1/jobs", json=spec, headers=OP)).json()["id"]
        on_time, late, closed = ues.values()
        tasks = [await task_of(c, ue) for ue in ues.values()]
        base, _ = await model_of(c, on_time, tasks[0])
        good = encode(update_of(base, 0.001), codec="none")
        hdr = {"Fl5g-Num-Samples": "100", "Content-Length": str(len(good))}

        r = await c.post(tasks[0]["upload_url"], content=good, headers=on_time | hdr)
        assert r.status_code == 200 and r.json()["outcome"] == "on_time"

        async def across_the_deadline() -> AsyncIterator[bytes]:
            body = encode(update_of(base, 1.0), codec="none")
            yield body[:1000]
            # the rest only after the deadline: the body is in flight when the iteration closes
            await asyncio.sleep(max(0.0, tasks[1]["deadline_at"] - time.time()) + 0.1)
            yield body[1000:]

        r = await c.post(tasks[1]["upload_url"], content=across_the_deadline(), headers=late | hdr)
        assert r.status_code == 200, r.text
        assert r.json()["outcome"] == "late" and r.json()["aggregated"] is False
        # the iteration did not wait for anything past its deadline and grace: version 1 comes out
        for _ in range(100):
            new, version = await model_of(c, on_time, tasks[0])
            if version == 1:
                break
            await asyncio.sleep(0.02)  # polling for the publication of version 1
        assert version == 1 and time.time() - tasks[0]["deadline_at"] < 1.5

        rounds = await rounds_of(c, job, 1)
        r = await c.post(tasks[2]["upload_url"], content=good, headers=closed | hdr)
        assert r.status_code == 409 and r.json()["cause"] == "ROUND_CLOSED"

        rec = rounds[0]
        outcome = {u["gpsi"]: u for u in rec["ues"]}
        assert [outcome[g]["outcome"] for g in ues] == ["on_time", "late", "missing"]
        assert outcome["msisdn-910000000002"]["arrival_s"] > rec["deadline_s"]
        assert outcome["msisdn-910000000002"]["staleness"] == 0
        # only the on-time update is in the model
        for k, v in update_of(base, 0.001).items():
            assert torch.allclose(new[k], base[k] + v, atol=1e-6), k
        metrics = (await c.get("/metrics")).text
        assert 'flaf_ue_updates_total{outcome="late"} 1.0' in metrics
        assert 'flaf_ue_updates_total{outcome="missing"} 1.0' in metrics


async def test_realtime_aggregates_one_version_stale_and_refuses_older(af: str) -> None:
    async with httpx.AsyncClient(base_url=af, timeout=30) as c:
        ue = await register(c, "msisdn-910000000001")
        spec = {
            "rounds": 3,
            "ues_per_round": 1,
            "selection": "all",
            "timeline": "realtime",
            "eval_every": 100,
            "downlink": "int8",
            "deadline": {"mode": "fixed", "seconds": 10},
        }
        job = (await c.post("/af/v1/jobs", json=spec, headers=OP)).json()["id"]
        t0 = await task_of(c, ue)
        assert t0["timeline"] == "realtime" and t0["downlink"] == "int8"
        v0, _ = await model_of(c, ue, t0)
        # the first iteration only fills the pipeline: the UE has the next task while it "trains"
        t1 = await task_of(c, ue, after=t0["round"])
        assert t1["model_version"] == t0["model_version"] + 1
        body = encode(update_of(v0, 0.002), codec="none")
        hdr = {"Fl5g-Num-Samples": "100", "Content-Length": str(len(body))}
        too_old = await c.post(t0["upload_url"], content=body, headers=ue | hdr | {"Fl5g-Base-Version": "7"})
        assert too_old.status_code == 409 and too_old.json()["cause"] == "STALE_UPDATE"
        # computed on version 0, aggregated in iteration 1 (base version 1): one version stale
        r = await c.post(t0["upload_url"], content=body, headers=ue | hdr | {"Fl5g-Base-Version": "0"})
        assert r.status_code == 200 and r.json()["outcome"] == "on_time" and r.json()["staleness"] == 1
        # iteration 1 publishes version 2 = version 1 + that update (the last iteration, 2, hands out
        # no task: it only collects); a delta from version 1 takes the UE there, int8 to within its step
        for _ in range(100):
            v2, version = await model_of(c, ue, t1)
            if version == 2:
                break
            await asyncio.sleep(0.05)  # polling for the publication of version 2
        assert version == 2
        d = await c.get(t1["model_url"], params={"base": 1, "codec": "int8"}, headers=ue)
        assert d.status_code == 200 and d.headers["Fl5g-Delta-Base"] == "1"
        step = decode(d.content, model_spec(update_of(v0, 0.0)))
        for k, v in step.items():
            assert torch.allclose(v0[k] + v, v2[k], atol=1e-4), k
        # two versions behind: the gap between the broadcast copies; a version the AF never had: full model
        two = await c.get(t1["model_url"], params={"base": 0, "codec": "int8"}, headers=ue)
        assert two.status_code == 200 and two.headers["Fl5g-Delta-Base"] == "0"
        gap = decode(two.content, model_spec(update_of(v0, 0.0)))
        assert all(torch.allclose(v0[k] + v, v2[k], atol=1e-4) for k, v in gap.items())
        full = await c.get(t1["model_url"], params={"base": 9, "codec": "int8"}, headers=ue)
        assert full.status_code == 200 and "Fl5g-Delta-Base" not in full.headers
        assert bytes_to_state(full.content).keys() == v2.keys()
        body = encode(update_of(v0, -0.001), codec="none")
        r = await c.post(t1["upload_url"], content=body, headers=ue | hdr | {"Fl5g-Base-Version": "1"})
        assert r.status_code == 200 and r.json()["staleness"] == 1

        rounds = await rounds_of(c, job, 3)
        assert [len(rd["ues"]) for rd in rounds] == [0, 1, 1]
        assert [rd["selected"] for rd in rounds] == [["msisdn-910000000001"]] * 2 + [[]]
        for rd, base in ((rounds[1], 0), (rounds[2], 1)):
            rec = rd["ues"][0]
            assert rd["timeline"] == "realtime"
            assert (rec["outcome"], rec["base_version"], rec["staleness"], rec["selected_round"]) == (
                "on_time",
                base,
                1,
                base,
            )
        final, version = await model_of(c, ue, t1)
        assert version == 3
        for k, v in v0.items():
            if v.is_floating_point():
                assert torch.allclose(final[k], v + 0.001, atol=1e-6), k
