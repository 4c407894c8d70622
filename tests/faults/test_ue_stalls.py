"""A UE that stalls, silent after taking its task or with its upload hanging half-sent, does not hold
iterations open: each closes at its deadline with the others' updates, and the next one opens at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.conftest import Cluster, TestUe, constant_update, create_job, encoded, job_rounds, wait_for
from tests.faults.test_ue_killed_mid_upload import half_upload, in_flight

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

DEADLINE_S = 3.0
LATE_GRACE_S = 0.5  # the coordinator waits this long for bodies still streaming at the deadline


def test_deadlines_close_iterations_despite_stalled_ues(cluster: Cluster, tmp_path: Path) -> None:
    af = cluster.af().start()
    af.wait_ready()
    good = TestUe(af.url, "msisdn-910000000301", cluster.keys.enrollment).register()
    stall = TestUe(af.url, "msisdn-910000000302", cluster.keys.enrollment).register()
    hung = None
    with cluster.operator(af) as op:
        job = create_job(
            op,
            {
                "rounds": 3,
                "selection": "all",
                "deadline": {"mode": "fixed", "seconds": DEADLINE_S},
                "eval_every": 1000,
            },
        )
        # iteration 0: the stalled UE takes its task and is never heard of again
        t0 = good.task()
        assert stall.task()["round"] == t0["round"] == 0
        body = encoded(constant_update(good.model(t0), 1e-3))
        assert good.upload(t0, body).json()["outcome"] == "on_time"

        # iteration 1: its upload starts and hangs half-sent, the connection open, past the deadline
        t1 = good.task()
        s1 = stall.task()
        assert t1["round"] == s1["round"] == 1
        assert good.upload(t1, body).json()["outcome"] == "on_time"
        hung = half_upload(stall, s1, body, af.port, tmp_path)
        wait_for("the hung upload to be in flight", lambda: in_flight(stall, s1), 10)

        rounds = wait_for("two round records", lambda: r if len(r := job_rounds(op, job)) >= 2 else None, 30)
        # the third iteration opened without waiting for the hung body to end
        t2 = good.task(timeout=10)
        assert t2["round"] == 2
        assert hung.poll() is None, "the stalled UE is still hanging on to its connection"
        op.post(f"/af/v1/jobs/{job}/stop")

    for rec in rounds[:2]:
        outcomes = {u["gpsi"]: u["outcome"] for u in rec["ues"]}
        assert rec["status"] == "completed"
        assert outcomes == {good.gpsi: "on_time", stall.gpsi: "missing"}, rec
        # closed at the deadline (plus the grace for streaming bodies), not held open by the stalled UE
        assert DEADLINE_S <= rec["duration_s"] < DEADLINE_S + LATE_GRACE_S + 1.5, rec["duration_s"]
    gap = rounds[1]["started_at"] - (rounds[0]["started_at"] + rounds[0]["duration_s"])
    assert 0 <= gap < 1.0, gap
    assert af.ready() == 200
    hung.kill()
    hung.wait()
    for ue in (good, stall):
        ue.close()
