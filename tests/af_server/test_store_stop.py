"""Stopping a job and committing one of its rounds race: neither write may undo the other."""

from __future__ import annotations

import pytest

from af_server.store import Store
from tests.af_server.test_store import _job, _record

pytestmark = pytest.mark.integration


async def test_a_stop_during_a_round_survives_its_commit(aredis, prefix):
    store = Store(aredis, prefix)
    running = _job()
    running.status = "running"
    await store.put_job(running)
    stopped = await store.stop_job(running.id)
    assert stopped is not None and stopped.status == "stopped"
    # the coordinator commits the round it was running, from its own (older) copy of the job
    running.rounds_done, running.model_version = 1, 1
    assert await store.commit_round(running, _record(running.id, 0))
    stored = await store.get_job(running.id)
    assert stored is not None
    assert (stored.status, stored.rounds_done, stored.model_version) == ("stopped", 1, 1)
    learnt: str = running.status
    assert learnt == "stopped"  # and the coordinator's copy learns it


async def test_a_stop_keeps_the_rounds_committed_before_it(aredis, prefix):
    store = Store(aredis, prefix)
    job = _job()
    job.status = "running"
    await store.put_job(job)
    job.rounds_done, job.model_version = 1, 1
    assert await store.commit_round(job, _record(job.id, 0))
    stopped = await store.stop_job(job.id)
    assert stopped is not None and (stopped.status, stopped.rounds_done) == ("stopped", 1)
    again = await store.stop_job(job.id)  # idempotent; a finished job is left as it is
    assert again is not None and again.status == "stopped" and again.updated_at == stopped.updated_at
    assert await store.stop_job("unknown") is None
