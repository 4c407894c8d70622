"""Redis dies (SIGKILL) under a running job and comes back: meanwhile the AF is not ready and answers
503 (never 500), and afterwards it reconnects by itself and the job carries on where it was.

The test's own redis-server runs with an append-only file fsynced on every write, so the restart
loses nothing: what is tested is the AF riding out the outage, not Redis durability. (Without
persistence a restarted Redis is empty: the AF would carry on with no jobs, and UEs would have to
register again, which they do on their first 401.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.faults.conftest import Cluster, RedisServer, TestUe, UeLoop, create_job, job_rounds, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


def problem_cause(r: httpx.Response) -> str | None:
    if r.headers.get("content-type", "").startswith("application/problem+json"):
        cause: str | None = r.json().get("cause")
        return cause
    return None


def test_af_rides_out_a_redis_restart(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis").start()
    cluster = Cluster(tmp_path, server.url)
    try:
        af = cluster.af().start()
        af.wait_ready()
        ues = [TestUe(af.url, f"msisdn-91000000040{i}", cluster.keys.enrollment).register() for i in range(2)]
        with cluster.operator(af) as op, UeLoop(ues) as loop:
            job = create_job(
                op,
                {
                    "rounds": 1000,
                    "selection": "all",
                    "deadline": {"mode": "fixed", "seconds": 2.0},
                    "eval_every": 100_000,
                },
            )
            wait_for("two rounds", lambda: True if len(job_rounds(op, job)) >= 2 else None, 30)

            server.kill()
            # not ready while Redis is away, and every call that needs Redis is a 503, not a 500
            not_ready = wait_for(
                "/readyz to turn 503", lambda: r if (r := af.get("/readyz")).status_code == 503 else None, 15
            )
            assert problem_cause(not_ready) == "REDIS_UNAVAILABLE"
            answers = [
                ues[0].http.get("/af/v1/ue/task", headers=ues[0].auth),
                op.get(f"/af/v1/jobs/{job}"),
                ues[0].http.post(
                    "/af/v1/ues",
                    json={"gpsi": "msisdn-910000000499", "num_samples": 1},
                    headers={"Fl5g-Enrollment-Key": cluster.keys.enrollment},
                ),
            ]
            for r in answers:
                assert r.status_code == 503, r.text
                assert problem_cause(r) == "REDIS_UNAVAILABLE" and r.headers["retry-after"]
            assert af.alive()
            # keep Redis away for longer than an iteration's deadline, so the coordinator has to
            # close and commit an iteration with Redis gone (it logs each failed lock renewal)
            wait_for(
                "the coordinator to miss Redis for a while",
                lambda: True if af.log_text().count("redis unavailable:") >= 5 else None,
                20,
            )
            server.start()  # same port, same append-only file
            wait_for("/readyz to turn 200 again", lambda: True if af.ready() == 200 else None, 30)
            at_restart = len(job_rounds(op, job))
            uploads_at_restart = loop.uploads.get("200", 0)

            def progressed() -> list[dict[str, Any]] | None:
                r = job_rounds(op, job)
                return r if len(r) >= at_restart + 2 else None

            rounds = wait_for("two more rounds", progressed, 40)
            op.post(f"/af/v1/jobs/{job}/stop")
            state = op.get(f"/af/v1/jobs/{job}").json()
        assert state["status"] == "stopped", state  # not "failed": the outage did not end the job
        assert loop.uploads.get("200", 0) > uploads_at_restart
        # every round committed exactly once, each one version on from the last
        assert [r["round"] for r in rounds] == list(range(len(rounds)))
        versions = [r["model_version"] for r in rounds]
        assert versions == list(range(versions[0], versions[0] + len(rounds)))
        assert "redis unavailable" in af.log_text().lower()
        for ue in ues:
            ue.close()
    finally:
        cluster.close()
        server.stop()
