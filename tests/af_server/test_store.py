"""The AF's Redis store, against a real redis-server."""

from __future__ import annotations

import asyncio
import time

import pytest

from af_server.schemas import JobSpec, JobState, RoundRecord
from af_server.store import Store

pytestmark = pytest.mark.integration


def _job(job_id: str = "j1") -> JobState:
    now = time.time()
    return JobState(id=job_id, spec=JobSpec(), created_at=now, updated_at=now)


def _record(job_id: str, n: int) -> RoundRecord:
    return RoundRecord(
        job_id=job_id,
        round=n,
        status="completed",
        model_version=n + 1,
        started_at=time.time(),
        duration_s=1.0,
        deadline_s=2.0,
        selected=["msisdn-910000000001"],
        ues=[],
        selection_policy="random",
    )


async def test_job_round_trip_and_listing(aredis, prefix):
    store = Store(aredis, prefix)
    await store.put_job(_job("a"))
    await store.put_job(_job("b"))
    got = await store.get_job("a")
    assert got is not None and got.spec == JobSpec()
    assert {j.id for j in await store.jobs()} == {"a", "b"}
    assert await store.get_job("nope") is None


async def test_commit_round_is_once_only_and_ordered(aredis, prefix):
    store = Store(aredis, prefix)
    job = _job()
    await store.put_job(job)
    job.rounds_done = 1
    assert await store.commit_round(job, _record(job.id, 0))
    # the same round again (say, from a replica that lost its lock) is refused
    assert not await store.commit_round(job, _record(job.id, 0))
    # a round out of order too
    assert not await store.commit_round(job, _record(job.id, 2))
    job.rounds_done = 2
    assert await store.commit_round(job, _record(job.id, 1))
    assert [r.round for r in await store.rounds(job.id)] == [0, 1]
    stored = await store.get_job(job.id)
    assert stored is not None and stored.rounds_done == 2


async def test_concurrent_commits_of_one_round_let_exactly_one_win(aredis, prefix):
    store = Store(aredis, prefix)
    job = _job()
    await store.put_job(job)
    results = await asyncio.gather(*[store.commit_round(job, _record(job.id, 0)) for _ in range(8)])
    assert results.count(True) == 1
    assert await store.round_count(job.id) == 1


async def test_upload_claim_is_a_replay_guard(aredis, prefix):
    store = Store(aredis, prefix)
    assert await store.claim_upload("j", 0, "msisdn-910000000001")
    assert not await store.claim_upload("j", 0, "msisdn-910000000001")
    assert await store.claim_upload("j", 1, "msisdn-910000000001")
    await store.unclaim_upload("j", 0, "msisdn-910000000001")
    assert await store.claim_upload("j", 0, "msisdn-910000000001")


async def test_tokens_expire_and_revoke(aredis, prefix):
    store = Store(aredis, prefix)
    await store.put_token("d1", {"sub": "msisdn-910000000001", "kind": "ue"}, ttl_s=60)
    await store.put_token("d2", {"sub": "msisdn-910000000001", "kind": "ue"}, ttl_s=60)
    assert (await store.get_token("d1"))["sub"] == "msisdn-910000000001"
    assert 0 < await aredis.ttl(store.k("tok", "d1")) <= 60
    assert await store.revoke_ue_tokens("msisdn-910000000001") == 2
    assert await store.get_token("d1") is None and await store.get_token("d2") is None


async def test_coordinator_lock_has_one_holder_and_expires(aredis, prefix):
    a, b = Store(aredis, prefix), Store(aredis, prefix)
    assert await a.acquire_lock("A", ttl_s=0.3)
    assert not await b.acquire_lock("B", ttl_s=0.3)
    assert not await b.renew_lock("B", ttl_s=0.3)
    assert await a.renew_lock("A", ttl_s=0.3)
    assert await a.lock_owner() == "A"
    await b.release_lock("B")  # not B's: stays
    assert await a.lock_owner() == "A"
    await a.release_lock("A")
    assert await b.acquire_lock("B", ttl_s=0.3)


async def test_ue_registry(aredis, prefix):
    store = Store(aredis, prefix)
    await store.put_ue("msisdn-910000000002", {"num_samples": 12, "last_seen": 1.5})
    await store.touch_ue("msisdn-910000000002", last_seen=2.5)
    rows = await store.ues(await store.ue_ids())
    assert rows["msisdn-910000000002"] == {"num_samples": 12, "last_seen": 2.5}
