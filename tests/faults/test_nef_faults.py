"""The NEF hung (SIGSTOP), then dead (SIGKILL) and back: the AF selects by its documented fallback
(random UEs, the fallback deadline), says so in its round records, its metrics and its log, and returns
to NEF-informed selection when the NEF answers again. And the NEF's own notifications to an AF
callback that fails are retried with bounded, growing backoff, then given up."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.faults.conftest import Cluster, Service, TestUe, UeLoop, create_job, job_rounds, wait_for
from tests.servers import read_request, respond, serve

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

GPSIS = [f"msisdn-91000000000{i}" for i in range(3)]  # UEs 0-2 of the NEF's default scenario


def attach(nef: Service, gpsi: str) -> None:
    r = httpx.put(f"{nef.url}/emulator/v1/ues/{gpsi}", json={}, timeout=10)
    assert r.status_code in (200, 201), r.text


def test_af_falls_back_while_the_nef_is_hung_or_down_and_recovers(cluster: Cluster) -> None:
    nef = cluster.nef().start()
    nef.wait_ready()
    af = cluster.af(nef, AF_NEF_TIMEOUT_S="0.5").start()
    af.wait_ready()
    for g in GPSIS:
        attach(nef, g)
    ues = [TestUe(af.url, g, cluster.keys.enrollment).register() for g in GPSIS]
    with cluster.operator(af) as op, UeLoop(ues, compute_s=0.2):
        job = create_job(
            op,
            {
                "rounds": 10_000,
                "ues_per_round": 3,
                "selection": "deadline",
                "local_steps": 50,  # 0.5 s of compute at the registered 0.01 s/step: the TR budgets fit
                "deadline": {"mode": "derived", "min_seconds": 1.0, "max_seconds": 4.0},
                "eval_every": 100_000,
            },
        )

        def next_round(after: int, degraded: bool) -> Callable[[], dict[str, Any] | None]:
            def check() -> dict[str, Any] | None:
                for r in job_rounds(op, job)[after:]:
                    if r["nef_degraded"] == degraded:
                        return r
                return None

            return check

        def phase(what: str, degraded: bool) -> dict[str, Any]:
            start = len(job_rounds(op, job))
            # a round planned before the change may still be committed: skip past it
            rec = wait_for(what, next_round(start + 1, degraded), 40)
            assert rec["status"] == "completed", rec
            gauge = af.metric("flaf_nef_degraded")
            assert gauge == (1.0 if degraded else 0.0), gauge
            return rec

        normal = phase("a round with NEF data", degraded=False)
        assert normal["selection_policy"] == "deadline"
        assert all(u["predicted_ul_s"] is not None for u in normal["ues"])

        nef.signal(signal.SIGSTOP)  # hung: connections open, no answer
        hung = phase("a round selected without the hung NEF", degraded=True)
        assert hung["selection_policy"] == "random"
        assert 1.0 <= hung["deadline_s"] <= 4.0  # the fallback deadline, within the job's bounds
        assert {u["outcome"] for u in hung["ues"]} == {"on_time"}  # training goes on meanwhile

        nef.signal(signal.SIGCONT)
        assert phase("NEF data again after it resumed", degraded=False)["selection_policy"] == "deadline"

        nef.kill()  # dead: connections refused
        assert phase("a round selected without the dead NEF", degraded=True)["selection_policy"] == "random"
        nef.start()  # same port and secrets
        nef.wait_ready()
        for g in GPSIS:
            attach(nef, g)  # a fresh NEF knows no UE until it is attached again
        back = phase("NEF data again after it restarted", degraded=False)
        assert back["selection_policy"] == "deadline"
        op.post(f"/af/v1/jobs/{job}/stop")
        assert op.get(f"/af/v1/jobs/{job}").json()["status"] == "stopped"
    assert "NEF unavailable, selecting without network data" in af.log_text()
    errors = af.metric("flaf_nef_request_duration_seconds_count", 'status_class="error"')
    assert errors is not None and errors > 0


class FlakyCallbacks:
    """An AF callback endpoint whose answers are scripted per path; keeps each attempt's time and body."""

    def __init__(self, answers: dict[str, list[int]]) -> None:
        self.answers = answers
        self.attempts: dict[str, list[tuple[float, bytes]]] = {p: [] for p in answers}
        self._lock = threading.Lock()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = await read_request(scope, receive, send)
        if body is None:
            return
        path = scope["path"]
        with self._lock:
            seen = self.attempts.setdefault(path, [])
            seen.append((time.monotonic(), body))
            script = self.answers.get(path, [404])
            status = script[min(len(seen), len(script)) - 1]
        await respond(send, status)

    def count(self, path: str) -> int:
        with self._lock:
            return len(self.attempts.get(path, []))

    def gaps(self, path: str) -> list[float]:
        with self._lock:
            times = [t for t, _ in self.attempts[path]]
        return [b - a for a, b in zip(times, times[1:], strict=False)]


def test_nef_notifications_are_retried_with_bounded_backoff(cluster: Cluster) -> None:
    backoff, cap, retries = 0.2, 0.4, 3
    nef = cluster.nef(
        NEF_NOTIFY_RETRIES=str(retries),
        NEF_NOTIFY_BACKOFF_S=str(backoff),
        NEF_NOTIFY_BACKOFF_MAX_S=str(cap),
    ).start()
    callbacks = FlakyCallbacks({"/cb/flaky": [503, 503, 204], "/cb/down": [503]})
    nef.wait_ready()
    with serve(callbacks) as cb_url, httpx.Client(base_url=nef.url, timeout=10) as c:
        form = {
            "grant_type": "client_credentials",
            "client_id": "fl5g-af",
            "client_secret": cluster.keys.nef_client,
        }
        token = c.post("/capif-security/v1/securities/fl5g-af/token", data=form).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        for gpsi, path in ((GPSIS[0], "/cb/flaky"), (GPSIS[1], "/cb/down")):
            attach(nef, gpsi)
            r = c.post(
                "/3gpp-monitoring-event/v1/fl5g-af/subscriptions",
                headers=auth,
                json={
                    "msisdn": gpsi.removeprefix("msisdn-"),
                    "monitoringType": "LOSS_OF_CONNECTIVITY",
                    "maximumNumberOfReports": 1,
                    "notificationDestination": f"{cb_url}{path}",
                },
            )
            assert r.status_code == 201, r.text
            c.put(f"/emulator/v1/ues/{gpsi}/override", json={"connected": False}).raise_for_status()

        def settled() -> bool | None:
            delivered = nef.metric("nef_notifications_total", 'outcome="delivered"') or 0
            failed = nef.metric("nef_notifications_total", 'outcome="failed"') or 0
            return True if delivered >= 1 and failed >= 1 else None

        wait_for("one delivered and one given-up notification", settled, 20)
        assert nef.metric("nef_notifications_total", 'outcome="delivered"') == 1
        assert nef.metric("nef_notifications_total", 'outcome="failed"') == 1
        # the outcome is counted after the last attempt: these counts are final
        assert callbacks.count("/cb/flaky") == 3  # failed twice, delivered on the third attempt
        assert callbacks.count("/cb/down") == retries + 1  # then given up: bounded
        for path in ("/cb/flaky", "/cb/down"):
            bodies = {b for _, b in callbacks.attempts[path]}
            assert len(bodies) == 1, "every attempt carries the same notification"
        slack = 0.3  # scheduling on a busy two-core machine
        flaky, down = callbacks.gaps("/cb/flaky"), callbacks.gaps("/cb/down")
        for gaps in (flaky, down):
            want = [min(backoff * 2**i, cap) for i in range(len(gaps))]
            for got, expected in zip(gaps, want, strict=True):
                assert expected - 0.02 <= got <= expected + slack, (gaps, want)
        assert down[1] > down[0]  # the backoff grows, up to its cap
