"""Two AF replicas share Redis and the checkpoint directory; the coordinator is SIGKILLed mid-job.

The standby must take the lock (its /readyz turns 200), the UE agents, which the launcher pointed
at the dead replica first, must move on to it by themselves (UE_AF_URLS), and the job must end
with every iteration committed exactly once: rounds 0..R-1, strictly increasing model versions,
and the iterations committed before the kill untouched.
"""

from __future__ import annotations

import json
import signal
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from fl5g.launcher import Proc, Stack
from tests.observability.conftest import delete_prefix, stack_logs, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

ROUNDS = 5
KILL_AFTER = 2  # rounds committed (round 1 done) before the coordinator dies
LOCK_TTL_S = 3.0
SPEC: dict[str, Any] = {
    "rounds": ROUNDS,
    "ues_per_round": 2,
    "selection": "all",
    "local_steps": 5,
    "deadline": {"mode": "fixed", "seconds": 30.0},  # all_in closes a round as soon as both report
    "eval_every": 1000,  # evaluate only the last round
}


def readyz(p: Proc) -> int | None:
    try:
        return httpx.get(f"{p.url}/readyz", timeout=2).status_code
    except httpx.HTTPError:
        return None


def test_standby_takes_over_and_no_round_is_lost_or_repeated(redis_url: str, tmp_path: Path) -> None:
    prefix = f"fl5gha-{uuid.uuid4().hex[:8]}"
    stack = Stack(
        ues=2,
        ue_processes=1,
        af_replicas=2,
        redis_url=redis_url,
        workdir=tmp_path / "stack",
        extra_env={"AF_REDIS_PREFIX": prefix, "AF_LOCK_TTL_S": str(LOCK_TTL_S)},
    )
    try:
        with stack:
            afs = [p for p in stack.procs if p.name.startswith("af")]
            assert len(afs) == 2
            stack.wait_ues_registered(timeout=120)

            def roles() -> tuple[Proc, Proc] | None:
                codes = [readyz(p) for p in afs]
                if sorted(c or 0 for c in codes) != [200, 503]:
                    return None
                return (afs[0], afs[1]) if codes[0] == 200 else (afs[1], afs[0])

            leader, standby = wait_for(
                "one coordinator and one standby", roles, 30, detail=lambda: stack_logs(stack)
            )
            # the launcher pointed the UE agents at the coordinator first: they must move on by themselves
            [ue_proc] = [p for p in stack.procs if p.name.startswith("ue")]
            env = dict(
                kv.split("=", 1)
                for kv in Path(f"/proc/{ue_proc.popen.pid}/environ").read_text().split("\0")
                if "=" in kv
            )
            assert env["UE_AF_URL"] == leader.url
            assert sorted(json.loads(env["UE_AF_URLS"])) == sorted(p.url for p in afs)
            token = {"Authorization": f"Bearer {stack.operator_token}"}
            with httpx.Client(base_url=leader.url, headers=token, timeout=10) as op:
                r = op.post("/af/v1/jobs", json=SPEC)
                assert r.status_code == 201, r.text
                jid = r.json()["id"]

                def committed() -> list[dict[str, Any]] | None:
                    job = op.get(f"/af/v1/jobs/{jid}").raise_for_status().json()
                    if job["status"] in ("completed", "stopped", "failed"):
                        pytest.fail(
                            f"job {job['status']} before the kill: {job.get('detail')}\n{stack_logs(stack)}"
                        )
                    rounds: list[dict[str, Any]] = (
                        op.get(f"/af/v1/jobs/{jid}/rounds").raise_for_status().json()
                    )
                    return rounds if len(rounds) >= KILL_AFTER else None

                before = wait_for(
                    f"round {KILL_AFTER - 1} to be committed",
                    committed,
                    90,
                    every=0.05,
                    detail=lambda: stack_logs(stack),
                )
            leader.popen.send_signal(signal.SIGKILL)
            leader.popen.wait(timeout=10)
            assert len(before) < ROUNDS, "the job ended before the kill: nothing was tested"

            wait_for(
                "the standby to take the coordinator lock",
                lambda: True if readyz(standby) == 200 else None,
                30,
                detail=lambda: stack_logs(stack),
            )
            with httpx.Client(base_url=standby.url, headers=token, timeout=10) as op:

                def finished() -> dict[str, Any] | None:
                    job: dict[str, Any] = op.get(f"/af/v1/jobs/{jid}").raise_for_status().json()
                    return job if job["status"] in ("completed", "stopped", "failed") else None

                job = wait_for(
                    f"job {jid} to end on the standby", finished, 120, detail=lambda: stack_logs(stack)
                )
            assert job["status"] == "completed", f"{job}\n{stack_logs(stack)}"
            assert job["rounds_done"] == ROUNDS

            client = redis.Redis.from_url(redis_url, decode_responses=True)
            raw = client.lrange(f"{prefix}:job:{jid}:rounds", 0, -1)
            stored_job = json.loads(client.get(f"{prefix}:job:{jid}") or "{}")
            client.close()
            records = [json.loads(x) for x in raw]
            assert [r["round"] for r in records] == list(range(ROUNDS))
            versions = [r["model_version"] for r in records]
            assert all(a < b for a, b in zip(versions, versions[1:], strict=False)), versions
            assert stored_job["model_version"] == versions[-1]
            assert stored_job["status"] == "completed"
            # what was committed before the kill is still there, unchanged (not re-run)
            for old, new in zip(before, records, strict=False):
                assert (old["round"], old["model_version"], old["started_at"]) == (
                    new["round"],
                    new["model_version"],
                    new["started_at"],
                )
            # the UEs found the new coordinator: the rounds it ran got their updates
            after = records[len(before) :]
            assert after and all(r["status"] == "completed" for r in after), [
                (r["round"], r["status"], [u["outcome"] for u in r["ues"]]) for r in after
            ]
            assert all(u["outcome"] == "on_time" for u in after[-1]["ues"]), after[-1]["ues"]
    finally:
        delete_prefix(redis_url, prefix)
