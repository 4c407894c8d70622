"""One observed run shared by the scrape and Prometheus tests, and helpers for real-process tests.

`observed_run` starts the whole stack as real processes on loopback (NEF, AF, two UE processes
hosting three UEs, a real redis-server), throttles one UE's uplink in the NEF emulator so that it
misses its deadlines, starts a real Prometheus scraping every service (when the Debian binary is
installed), waits until Prometheus has scraped the AF's zero counters, runs a two-round job, and
keeps what the tests check: the AF's round records, a scrape of every `/metrics`, and Prometheus.
One run serves both test files because starting the stack (torch, the dataset) dominates the
runtime on a two-core machine.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import redis
import yaml

from fl5g.launcher import Stack, free_port, tail
from tests.k8s.conftest import RULES_FILE

PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")
OUTCOMES = ("on_time", "late", "missing", "rejected")
T = TypeVar("T")


def wait_for(
    what: str,
    check: Callable[[], T | None],
    timeout: float,
    every: float = 0.2,
    detail: Callable[[], str] | None = None,
) -> T:
    """Poll ``check`` until it returns something other than None; fail after ``timeout`` seconds,
    with ``detail()`` (e.g. the services' log tails) in the message."""
    end = time.monotonic() + timeout
    while True:
        with contextlib.suppress(httpx.HTTPError):
            value = check()
            if value is not None:
                return value
        if time.monotonic() > end:
            pytest.fail(
                f"timed out after {timeout:.0f}s waiting for {what}" + (f"\n{detail()}" if detail else "")
            )
        time.sleep(every)  # polling an observable condition, bounded by timeout


def stack_logs(stack: Stack, lines: int = 15) -> str:
    return "\n".join(f"--- {p.name} ({p.log}):\n{tail(p.log, lines)}" for p in stack.procs)


def run_job(
    op: httpx.Client, spec: dict[str, Any], timeout: float, detail: Callable[[], str] | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Create a job and follow it until it ends; (job, round records)."""
    r = op.post("/af/v1/jobs", json=spec)
    assert r.status_code == 201, r.text
    jid = r.json()["id"]

    def finished() -> dict[str, Any] | None:
        job: dict[str, Any] = op.get(f"/af/v1/jobs/{jid}").raise_for_status().json()
        return job if job["status"] in ("completed", "stopped", "failed") else None

    job = wait_for(f"job {jid} to end", finished, timeout, detail=detail)
    rounds: list[dict[str, Any]] = op.get(f"/af/v1/jobs/{jid}/rounds").raise_for_status().json()
    return job, rounds


def outcome_counts(rounds: list[dict[str, Any]]) -> dict[str, int]:
    counts = dict.fromkeys(OUTCOMES, 0)
    for rd in rounds:
        for ue in rd["ues"]:
            counts[ue["outcome"]] += 1
    return counts


def delete_prefix(redis_url: str, prefix: str) -> None:
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(f"{prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()


# Prometheus ---------------------------------------------------------------------------------------
@dataclass
class Prometheus:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def get(self, path: str, **params: str) -> dict[str, Any]:
        r = httpx.get(f"{self.url}{path}", params=params, timeout=5)
        r.raise_for_status()
        body: dict[str, Any] = r.json()
        assert body["status"] == "success", body
        return body

    def query(self, expr: str) -> list[dict[str, Any]]:
        return list(self.get("/api/v1/query", query=expr)["data"]["result"])

    def scalar(self, expr: str) -> float | None:
        """The value of a one-series instant query, None while it has no series."""
        result = self.query(expr)
        assert len(result) <= 1, f"{expr} has {len(result)} series: {result}"
        return float(result[0]["value"][1]) if result else None


def fast_rules(dest: Path) -> Path:
    """The committed rule file with every group evaluated each second instead of every 30 s.

    Only the groups' ``interval`` changes, so the test waits seconds, not minutes; the expressions
    Prometheus evaluates are exactly the committed ones (checked here).
    """
    doc = yaml.safe_load(RULES_FILE.read_text())
    original = json.dumps([g["rules"] for g in doc["groups"]], sort_keys=True)
    for group in doc["groups"]:
        group["interval"] = "1s"
    assert json.dumps([g["rules"] for g in doc["groups"]], sort_keys=True) == original
    dest.write_text(yaml.safe_dump(doc, sort_keys=False))
    return dest


@contextlib.contextmanager
def prometheus(workdir: Path, targets: dict[str, list[str]]) -> Iterator[Prometheus]:
    """A real Prometheus on a free loopback port scraping ``targets`` (job name -> host:port) every second."""
    assert PROMETHEUS is not None
    workdir.mkdir(parents=True, exist_ok=True)
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "900ms", "evaluation_interval": "1s"},
        "rule_files": [str(fast_rules(workdir / "fl5g-rules.yaml"))],
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": hosts}]} for job, hosts in targets.items()
        ],
    }
    cfg = workdir / "prometheus.yml"
    cfg.write_text(yaml.safe_dump(config, sort_keys=False))
    port = free_port()
    log = workdir / "prometheus.log"
    with log.open("ab") as fh:
        proc = subprocess.Popen(  # noqa: S603 (the Debian binary, our own arguments)
            [
                PROMETHEUS,
                f"--config.file={cfg}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    prom = Prometheus(f"http://127.0.0.1:{port}", proc, log)
    try:

        def ready() -> bool | None:
            if proc.poll() is not None:
                pytest.fail(f"prometheus exited with {proc.returncode}:\n{tail(log)}")
            return True if httpx.get(f"{prom.url}/-/ready", timeout=2).status_code == 200 else None

        wait_for("prometheus to be ready", ready, 30, every=0.1)
        yield prom
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# The shared run -------------------------------------------------------------------------------------
SLOW_UE = 2  # the UE whose uplink is throttled so that it misses every deadline
SLOW_UL_BPS = 10_000.0  # 1.7 MB of smallcnn update at 10 kbit/s: far past any deadline of the run
JOB_SPEC: dict[str, Any] = {
    "rounds": 2,
    "ues_per_round": 3,
    "selection": "all",
    "local_steps": 3,
    "batch_size": 32,
    "deadline": {"mode": "fixed", "seconds": 4.0},
    "eval_every": 2,
}


@dataclass
class ObservedRun:
    stack: Stack
    job: dict[str, Any]
    rounds: list[dict[str, Any]]
    scrapes: dict[str, str]
    prometheus: Prometheus | None
    zero_scrape: dict[str, float] = field(default_factory=dict)


def host_port(url: str) -> str:
    return url.removeprefix("http://")


@pytest.fixture(scope="session")
def observed_run(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ObservedRun]:
    prefix = f"fl5gobs-{uuid.uuid4().hex[:8]}"
    work = tmp_path_factory.mktemp("observed")
    stack = Stack(
        ues=3,
        ue_processes=2,
        redis_url=redis_url,
        workdir=work / "stack",
        extra_env={"AF_REDIS_PREFIX": prefix},
    )
    try:
        with stack, contextlib.ExitStack() as cleanup:
            stack.wait_ues_registered(timeout=120)
            ue_urls = [p.url for p in stack.procs if p.name.startswith("ue")]
            slow = stack.gpsis()[SLOW_UE]
            r = httpx.put(
                f"{stack.nef_url}/emulator/v1/ues/{slow}/override", json={"ulRateBps": SLOW_UL_BPS}, timeout=5
            )
            assert r.status_code == 200, r.text
            prom = None
            zero: dict[str, float] = {}
            if PROMETHEUS is not None:
                prom = cleanup.enter_context(
                    prometheus(
                        work / "prometheus",
                        {
                            "af-server": [host_port(stack.af_url)],
                            "nef-mock": [host_port(stack.nef_url)],
                            "ue-agent": [host_port(u) for u in ue_urls],
                        },
                    )
                )
                # rate() is exact only if every outcome series starts inside the window at 0:
                # wait until Prometheus holds a scrape of the AF from before the job
                p = prom

                def zeros() -> dict[str, float] | None:
                    rows = p.query('flaf_ue_updates_total{job="af-server"}')
                    values = {row["metric"]["outcome"]: float(row["value"][1]) for row in rows}
                    return values if set(values) == set(OUTCOMES) else None

                zero = wait_for("a scrape of the AF's outcome counters", zeros, 30)
            with stack.operator() as op:
                job, rounds = run_job(op, JOB_SPEC, timeout=120, detail=lambda: stack_logs(stack))
            scrapes = {"af": httpx.get(f"{stack.af_url}/metrics", timeout=5).text}
            scrapes["nef"] = httpx.get(f"{stack.nef_url}/metrics", timeout=5).text
            for i, u in enumerate(ue_urls):
                scrapes[f"ue{i}"] = httpx.get(f"{u}/metrics", timeout=5).text
            yield ObservedRun(stack, job, rounds, scrapes, prom, zero)
    finally:
        delete_prefix(redis_url, prefix)
