"""A UE process dies half-way through its upload: the partial body is dropped, never aggregated, the UE
may send its update again while the iteration is open, and the iteration completes with the others."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import torch

from fl5g.launcher import _die_with_parent
from tests.faults.conftest import (
    ROOT,
    Cluster,
    TestUe,
    constant_update,
    create_job,
    encoded,
    job_rounds,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

DEADLINE_S = 6.0


def half_upload(ue: TestUe, task: dict[str, Any], body: bytes, port: int, tmp: Path) -> subprocess.Popen[str]:
    """Start a process that sends the headers and half of ``body`` as ``ue``, then hangs."""
    path = tmp / f"{ue.gpsi}.body"
    path.write_bytes(body)
    proc = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-m",
            "tests.faults.half_upload",
            str(port),
            task["upload_url"],
            str(ue.token),
            str(ue.num_samples),
            str(path),
            str(len(body) // 2),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=_die_with_parent,  # noqa: PLW1509 (gone with the test run, whatever happens)
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith("sent "), "the half upload did not start"
    return proc


def in_flight(ue: TestUe, task: dict[str, Any]) -> bool | None:
    """True once the AF holds this UE's upload as in flight (a probe is refused as a duplicate).

    The probe lacks its Fl5g-Num-Samples header: with nothing in flight it is refused for that, before
    the AF claims anything, so probing changes nothing.
    """
    r = ue.http.post(task["upload_url"], content=b"probe", headers=ue.auth)
    if r.status_code == 409 and r.json()["cause"] == "DUPLICATE_UPDATE":
        return True
    assert r.status_code == 400 and r.json()["invalidParams"][0]["param"].lower() == "fl5g-num-samples", (
        r.text
    )
    return None


def test_partial_body_is_dropped_and_the_iteration_completes(cluster: Cluster, tmp_path: Path) -> None:
    af = cluster.af().start()
    af.wait_ready()
    a = TestUe(af.url, "msisdn-910000000201", cluster.keys.enrollment, num_samples=10).register()
    b = TestUe(af.url, "msisdn-910000000202", cluster.keys.enrollment, num_samples=20).register()
    c = TestUe(af.url, "msisdn-910000000203", cluster.keys.enrollment, num_samples=30).register()
    with cluster.operator(af) as op:
        job = create_job(
            op,
            {
                "rounds": 2,  # round 0 is checked; it is not evaluated (only the last one is)
                "selection": "all",
                "eval_every": 1000,
                "deadline": {"mode": "fixed", "seconds": DEADLINE_S},
                "seed": 3,
            },
        )
        ta, tb, tc = a.task(), b.task(), c.task()
        assert ta["round"] == tb["round"] == tc["round"] == 0
        base = a.model(ta)
        ua, ub = constant_update(base, 0.001), constant_update(base, 0.003)
        body_a, body_b = encoded(ua), encoded(ub)
        poison = encoded(constant_update(base, 100.0))  # C's update: glaring if any of it got in

        ok = a.upload(ta, body_a)
        assert ok.status_code == 200 and ok.json()["outcome"] == "on_time", ok.text

        # B dies mid-body, then (a new process, same UE) sends its update again
        killed_b = half_upload(b, tb, body_b, af.port, tmp_path)
        wait_for("B's first upload to be in flight", lambda: in_flight(b, tb), 10)
        killed_b.kill()
        killed_b.wait()

        def retried() -> httpx.Response | None:
            r = b.upload(tb, body_b)
            if r.status_code == 409 and r.json()["cause"] == "DUPLICATE_UPDATE":
                return None  # the AF has not noticed the disconnect yet
            return r

        again = wait_for("B's second upload to be taken", retried, 10)
        assert again.status_code == 200 and again.json()["outcome"] == "on_time", again.text

        # C dies mid-body and never comes back
        killed_c = half_upload(c, tc, poison, af.port, tmp_path)
        wait_for("C's upload to be in flight", lambda: in_flight(c, tc), 10)
        killed_c.kill()
        killed_c.wait()

        record = wait_for("the round record", lambda: job_rounds(op, job)[:1] or None, DEADLINE_S + 30)[0]
        op.post(f"/af/v1/jobs/{job}/stop")
        outcomes = {u["gpsi"]: u["outcome"] for u in record["ues"]}
        assert record["status"] == "completed"
        assert outcomes == {a.gpsi: "on_time", b.gpsi: "on_time", c.gpsi: "missing"}
        by_ue = {u["gpsi"]: u for u in record["ues"]}
        assert by_ue[b.gpsi]["bytes_ul"] == len(body_b) and by_ue[c.gpsi]["bytes_ul"] is None
        # the iteration waited for C until its deadline, not for ever
        assert DEADLINE_S <= record["duration_s"] < DEADLINE_S + 2

        # exactly A's and B's updates, weighted by their samples, were applied; nothing of C's
        new = a.model(ta)
        for name, value in ua.items():
            expected = base[name] + (10 * value + 20 * ub[name]) / 30
            assert torch.allclose(new[name], expected, atol=1e-6), name
        # the AF counted only complete bodies as received
        assert af.metric("flaf_model_transfer_bytes_total", 'direction="ul"') == len(body_a) + len(body_b)
        assert af.metric("flaf_ue_updates_total", 'outcome="on_time"') == 2
        assert af.metric("flaf_ue_updates_total", 'outcome="missing"') == 1
    for ue in (a, b, c):
        ue.close()
