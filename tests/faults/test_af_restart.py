"""The only AF is SIGKILLed mid-job and started again: the job resumes from Redis and its checkpoint,
no committed iteration is lost or repeated, and the UE agents re-attach by themselves."""

from __future__ import annotations

from typing import Any

import pytest

from tests.faults.conftest import Cluster, Service, create_job, job_rounds, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

ROUNDS = 6
UES = 3


def registered(ue: Service) -> int | None:
    r = ue.get("/status")
    n = sum(1 for u in r.json()["ues"] if u["registered"])
    return n if n == UES else None


def test_af_killed_and_restarted_resumes_the_job(cluster: Cluster) -> None:
    af = cluster.af().start()
    af.wait_ready()
    ues = cluster.ues(af, UES).start()
    wait_for("the UEs to register", lambda: registered(ues), 60)
    with cluster.operator(af) as op:
        job = create_job(
            op,
            {
                "rounds": ROUNDS,
                "selection": "all",
                "local_steps": 5,
                "deadline": {"mode": "fixed", "seconds": 30.0},  # a round closes when all three report
                "eval_every": 1000,
            },
        )
        before = wait_for(
            "two committed rounds", lambda: r if len(r := job_rounds(op, job)) >= 2 else None, 60
        )
    af.kill()
    gpsis = {u["gpsi"] for u in before[0]["ues"]}
    assert len(gpsis) == UES

    af.start()  # same port, same Redis prefix, same state directory
    af.wait_ready(60)
    with cluster.operator(af) as op:

        def ended() -> dict[str, Any] | None:
            state: dict[str, Any] = op.get(f"/af/v1/jobs/{job}").raise_for_status().json()
            return state if state["status"] in ("completed", "failed", "stopped") else None

        final = wait_for("the job to end", ended, 120)
        rounds = job_rounds(op, job)
    assert final["status"] == "completed", final
    assert final["rounds_done"] == ROUNDS and final["model_version"] == ROUNDS
    # every iteration committed exactly once, in order, each one version on from the last
    assert [r["round"] for r in rounds] == list(range(ROUNDS))
    assert [r["model_version"] for r in rounds] == list(range(1, ROUNDS + 1))
    # what was committed before the kill is untouched
    assert rounds[: len(before)] == before
    # the UE agents found the restarted AF on their own and trained in the iterations after it
    after = rounds[len(before) :]
    assert after
    for r in after:
        assert r["status"] == "completed"
    assert {u["gpsi"] for u in after[-1]["ues"] if u["outcome"] == "on_time"} == gpsis
    log = af.log_text()
    assert log.count("is now the round coordinator") == 2 and "failed" not in log.split("--- start 1 ---")[1]
