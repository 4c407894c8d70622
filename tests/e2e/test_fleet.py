"""Fleet mode scales: 200 UEs hosted by two processes on the default scenario run a job to its end."""

from __future__ import annotations

import os

import pytest

from fl5g.launcher import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def test_200_fleet_ues_run_five_rounds(redis_url):
    spec = {
        "rounds": 5, "ues_per_round": 20, "selection": "deadline", "local_steps": 3, "seed": 1,
        "deadline": {"mode": "fixed", "seconds": 8}, "eval_samples": 500,
    }
    env = {"AF_REDIS_PREFIX": f"fleet-{os.getpid()}"}
    with Stack(ues=200, ue_processes=2, redis_url=redis_url, extra_env=env) as stack:
        stack.wait_ues_registered(timeout=240)
        res = stack.run_job(spec, timeout_s=240)
    state, rounds = res["job"], res["rounds"]
    assert state["status"] == "completed", state
    assert [r["round"] for r in rounds] == list(range(5))
    chosen = {g for r in rounds for g in r["selected"]}
    assert len(chosen) >= 20  # selection picked from the fleet, not one fixed handful
    on_time = sum(u["outcome"] == "on_time" for r in rounds for u in r["ues"])
    assert on_time >= 5 * 10, on_time
    assert all(r["status"] == "completed" for r in rounds)
