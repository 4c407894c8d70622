"""The SLO counts each selected UE once per round: an upload that was still streaming when its round
closed (written off as missing in the round record) must not be counted a second time, as late,
when its body completes afterwards. Otherwise sum(flaf_ue_updates_total) exceeds the updates
expected and the deadline-compliance ratio no longer agrees with the AF's own round records."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from af_server.app import create_app
from af_server.settings import AfSettings
from tests.observability.conftest import OUTCOMES, delete_prefix
from tests.servers import serve

pytestmark = pytest.mark.integration

WRITE, ENROLL = "op-write-token", "enroll-key"
GPSI = "msisdn-910000000001"
BODY = 64 * 1024


@pytest.fixture
def af(redis_url: str, tmp_path: Path) -> Iterator[str]:
    prefix = f"fl5gtest-{uuid.uuid4().hex[:8]}"
    settings = AfSettings(
        redis_url=redis_url,
        redis_prefix=prefix,
        state_dir=tmp_path,
        operator_write_tokens=[WRITE],
        ue_enrollment_keys=[ENROLL],
        lock_ttl_s=2.0,
    )
    try:
        with serve(create_app(settings)) as url:
            yield url
    finally:
        delete_prefix(redis_url, prefix)


def outcomes(metrics_text: str) -> dict[str, float]:
    fam = next(f for f in text_string_to_metric_families(metrics_text) if f.name == "flaf_ue_updates")
    return {s.labels["outcome"]: s.value for s in fam.samples if s.name.endswith("_total")}


async def test_an_update_finishing_after_its_round_closed_is_counted_once(af: str) -> None:
    op = {"Authorization": f"Bearer {WRITE}"}
    async with httpx.AsyncClient(base_url=af, timeout=30) as c:
        r = await c.post(
            "/af/v1/ues", json={"gpsi": GPSI, "num_samples": 100}, headers={"Fl5g-Enrollment-Key": ENROLL}
        )
        assert r.status_code == 201, r.text
        ue = {"Authorization": f"Bearer {r.json()['token']}"}
        spec = {
            "rounds": 1,
            "ues_per_round": 1,
            "selection": "all",
            "deadline": {"mode": "fixed", "seconds": 1.0},
        }
        r = await c.post("/af/v1/jobs", json=spec, headers=op)
        assert r.status_code == 201, r.text
        jid = r.json()["id"]
        for _ in range(20):  # long polls, bounded
            r = await c.get("/af/v1/ue/task", params={"wait": 2}, headers=ue)
            if r.status_code == 200:
                break
            assert r.status_code in (204, 503), r.text
        assert r.status_code == 200, r.text
        task = r.json()

        committed = asyncio.Event()

        async def body() -> AsyncIterator[bytes]:
            yield b"\0" * (BODY // 2)  # the upload starts before the deadline...
            await committed.wait()  # ...and ends only after the round was closed and committed
            yield b"\0" * (BODY // 2)

        async def watch() -> list[dict[str, Any]]:
            async with httpx.AsyncClient(base_url=af, timeout=30) as w:
                for _ in range(300):  # bounded polling of the committed round
                    rounds: list[dict[str, Any]] = (
                        (await w.get(f"/af/v1/jobs/{jid}/rounds", headers=op)).raise_for_status().json()
                    )
                    if rounds:
                        committed.set()
                        return rounds
                    await asyncio.sleep(0.1)  # polling period
            committed.set()
            raise AssertionError("round 0 was never committed")

        upload = c.post(
            task["upload_url"],
            content=body(),
            headers={**ue, "Content-Length": str(BODY), "Fl5g-Num-Samples": "100"},
        )
        r, rounds = await asyncio.gather(upload, watch())
        assert r.status_code == 200, r.text
        assert r.json()["aggregated"] is False
        [record] = rounds
        assert [u["outcome"] for u in record["ues"]] == ["missing"]

        counted = outcomes((await c.get("/metrics")).text)
        assert set(counted) == set(OUTCOMES)
        assert sum(counted.values()) == 1, counted  # one selected UE, one round: one outcome
        assert counted["missing"] == 1, counted
