"""Many UEs uploading to one AF at once: acceptance, loss, errors, ingest latency and the AF's memory.

The AF runs as a real process (``fl5g serve af``, real secrets, Redis from ``FL5G_REDIS_URL`` or its
embedded server). A load client in this process (httpx, asyncio) registers N UEs, creates one job
(``selection: all``, ``ues_per_round: N``, the small CNN, a fixed deadline), has every UE long-poll
its task, and then releases all N uploads at the same instant: one valid update each, sent as
memoryview chunks with a Content-Length, as the UE agents do. It reports how many uploads were
accepted, how many accepted ones are missing from the committed round record (lost), the 5xx count,
the ingest latency (request sent to answer received) and the AF's peak RSS (``VmHWM``).

Memory: the AF streams each body into one buffer of its size, and the buffers of the uploads in flight
are bounded together by ``AF_UPLOAD_BUFFER_BYTES`` (uploads past it wait, body unread). The table
shows the AF's RSS growth during the uploads beside N x the update size, for several budgets.
Everything is on loopback; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

from bench.common import console, parser, save, table
from fl5g.launcher import free_port, tail
from flcore.codecs import encode
from flcore.wire import SAFETENSORS, bytes_to_state, iter_chunks

MIB = 1024 * 1024


def status_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in KiB, from /proc/<pid>/status."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


@contextlib.contextmanager
def af_process(workdir: Path, env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    log = workdir / "af.log"
    full = {**os.environ, **env, "PYTHONUNBUFFERED": "1", "AF_PUBLIC_URL": f"http://127.0.0.1:{port}"}
    cmd = [sys.executable, "-m", "fl5g.cli", "serve", "af", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("ab") as fh:
        proc = subprocess.Popen(cmd, env=full, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)  # noqa: S603
    url = f"http://127.0.0.1:{port}"
    try:
        end = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the AF exited with {proc.returncode}:\n{tail(log)}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            if time.monotonic() > end:
                raise TimeoutError(f"the AF was not ready within 60 s:\n{tail(log)}")
            time.sleep(0.1)  # polling a child process for readiness, bounded
        yield url, proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class Run:
    ues: int
    codec: str
    budget_mib: int
    rate_bps: float | None = None
    update_bytes: int = 0
    accepted: int = 0
    late: int = 0
    refused: int = 0
    server_errors: int = 0
    transport_errors: int = 0
    retried: int = 0
    lost: int = 0
    peak_in_flight: int = 0
    latencies_s: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    rss_before_mib: float = 0.0
    rss_peak_mib: float = 0.0
    hwm_mib: float = 0.0

    def row(self) -> dict[str, Any]:
        lat = sorted(self.latencies_s)

        def q(p: float) -> float:
            return lat[min(len(lat) - 1, int(p * len(lat)))] if lat else float("nan")

        growth = self.rss_peak_mib - self.rss_before_mib
        return {
            "ues": self.ues,
            "codec": self.codec,
            "uplink_mbit_s": self.rate_bps / 1e6 if self.rate_bps else None,
            "update_mib": self.update_bytes / MIB,
            "budget_mib": self.budget_mib,
            "peak_in_flight": self.peak_in_flight,
            "accepted": self.accepted,
            "late": self.late,
            "refused_4xx": self.refused,
            "errors_5xx": self.server_errors,
            "transport_errors": self.transport_errors,
            "retried": self.retried,
            "lost": self.lost,
            "p50_s": q(0.5),
            "p99_s": q(0.99),
            "mean_s": statistics.fmean(lat) if lat else float("nan"),
            "wall_s": self.wall_s,
            "ingest_mib_s": self.accepted * self.update_bytes / MIB / self.wall_s if self.wall_s else 0.0,
            "rss_before_mib": self.rss_before_mib,
            "rss_growth_mib": growth,
            "all_updates_mib": self.ues * self.update_bytes / MIB,
            "af_vmhwm_mib": self.hwm_mib,
            "first_errors": self.errors[:5],
        }


async def sample_rss(pid: int, run: Run, stop: asyncio.Event) -> None:
    while not stop.is_set():
        with contextlib.suppress(OSError):
            run.rss_peak_mib = max(run.rss_peak_mib, status_kib(pid)["VmRSS"] / 1024)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.02)


async def load(url: str, pid: int, keys: dict[str, str], run: Run) -> None:
    limits = httpx.Limits(max_connections=run.ues + 20, max_keepalive_connections=run.ues + 20)
    timeout = httpx.Timeout(120.0, connect=30.0, pool=120.0)
    op = {"Authorization": f"Bearer {keys['operator']}"}
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=timeout) as http:
        gate = asyncio.Semaphore(64)

        async def register(i: int) -> str:
            async with gate:
                r = await http.post(
                    "/af/v1/ues",
                    json={"gpsi": f"msisdn-92{i:010d}", "num_samples": 100},
                    headers={"Fl5g-Enrollment-Key": keys["enrollment"]},
                )
            r.raise_for_status()
            return str(r.json()["token"])

        tokens = await asyncio.gather(*(register(i) for i in range(run.ues)))
        spec = {
            "rounds": 2,  # round 0 is measured; stopped before round 1, so nothing is evaluated
            "ues_per_round": run.ues,
            "selection": "all",
            "model": "smallcnn",
            "codec": run.codec,
            "deadline": {"mode": "fixed", "seconds": 300.0},  # all uploads are in long before it
            "eval_every": 1_000_000,
            "seed": 1,
        }
        job = (await http.post("/af/v1/jobs", json=spec, headers=op)).raise_for_status().json()["id"]

        async def task_of(token: str) -> dict[str, Any]:
            for _ in range(20):  # long-polls, bounded
                r = await http.get(
                    "/af/v1/ue/task", params={"wait": 10}, headers={"Authorization": f"Bearer {token}"}
                )
                if r.status_code == 200:
                    task: dict[str, Any] = r.json()
                    return task
            raise TimeoutError("no task")

        tasks = await asyncio.gather(*(task_of(t) for t in tokens))
        auth0 = {"Authorization": f"Bearer {tokens[0]}"}
        base = bytes_to_state((await http.get(tasks[0]["model_url"], headers=auth0)).content)
        body = encode({k: v * 0 + 1e-4 for k, v in base.items() if v.is_floating_point()}, codec=run.codec)
        run.update_bytes = len(body)

        go = asyncio.Event()
        in_flight = 0
        outcome: dict[str, str] = {}

        async def chunks() -> AsyncIterator[bytes]:
            step = 64 * 1024 if run.rate_bps else 256 * 1024
            start = time.monotonic()
            for i, piece in enumerate(iter_chunks(body, step)):
                if run.rate_bps:  # a UE's uplink: the body trickles in at its radio rate
                    due = start + i * step * 8 / run.rate_bps
                    await asyncio.sleep(max(0.0, due - time.monotonic()))
                yield piece  # type: ignore[misc]  # a memoryview: httpx sends it without a copy

        async def upload(i: int, token: str, task: dict[str, Any]) -> None:
            nonlocal in_flight
            headers = {
                "Authorization": f"Bearer {token}",
                "Content-Type": SAFETENSORS,
                "Content-Length": str(len(body)),
                "Fl5g-Num-Samples": "100",
            }
            await go.wait()
            in_flight += 1
            run.peak_in_flight = max(run.peak_in_flight, in_flight)
            t0 = time.perf_counter()
            try:
                for attempt in range(3):
                    try:
                        r = await http.post(task["upload_url"], content=chunks(), headers=headers)
                        break
                    except httpx.TransportError as exc:
                        # e.g. a pooled keep-alive connection the AF closed as it was reused: the AF took
                        # nothing (a claim is released on disconnect), so send again, as a UE agent does
                        run.errors.append(f"{type(exc).__name__}: {exc}"[:200])
                        if attempt == 2:
                            run.transport_errors += 1
                            return
                        run.retried += 1
            finally:
                in_flight -= 1
            run.latencies_s.append(time.perf_counter() - t0)
            if r.status_code == 200:
                outcome[f"msisdn-92{i:010d}"] = str(r.json()["outcome"])
            elif r.status_code >= 500:
                run.server_errors += 1
            else:
                run.refused += 1

        run.rss_before_mib = status_kib(pid)["VmRSS"] / 1024
        run.rss_peak_mib = run.rss_before_mib
        stop = asyncio.Event()
        sampler = asyncio.create_task(sample_rss(pid, run, stop))
        workers = [
            asyncio.create_task(upload(i, t, k)) for i, (t, k) in enumerate(zip(tokens, tasks, strict=True))
        ]
        await asyncio.sleep(0)  # every upload is parked on the gate before it opens
        t0 = time.perf_counter()
        go.set()
        await asyncio.gather(*workers)
        run.wall_s = time.perf_counter() - t0
        stop.set()
        await sampler
        run.accepted = sum(1 for o in outcome.values() if o == "on_time")
        run.late = sum(1 for o in outcome.values() if o == "late")

        async def record() -> dict[str, Any]:
            for _ in range(1800):  # the round closes once every update is in; bounded poll
                rounds = (await http.get(f"/af/v1/jobs/{job}/rounds", headers=op)).json()
                if rounds:
                    rec: dict[str, Any] = rounds[0]
                    return rec
                await asyncio.sleep(0.1)
            raise TimeoutError(f"no round record; uploads so far: {run.row()}")

        rec = await record()
        await http.post(f"/af/v1/jobs/{job}/stop", headers=op)
        on_time = {u["gpsi"] for u in rec["ues"] if u["outcome"] == "on_time"}
        run.lost = sum(1 for g, o in outcome.items() if o == "on_time" and g not in on_time)
        run.hwm_mib = status_kib(pid)["VmHWM"] / 1024


def one_run(ues: int, codec: str, budget_mib: int, rate_bps: float | None) -> dict[str, Any]:
    keys = {"operator": secrets.token_urlsafe(24), "enrollment": secrets.token_urlsafe(24)}
    with tempfile.TemporaryDirectory(prefix="fl5g-load-") as tmp:
        env = {
            "AF_STATE_DIR": tmp,
            "AF_REDIS_PREFIX": f"bench-load-{secrets.token_hex(4)}",
            "AF_OPERATOR_WRITE_TOKENS": json.dumps([keys["operator"]]),
            "AF_UE_ENROLLMENT_KEYS": json.dumps([keys["enrollment"]]),
            "AF_UE_ACTIVE_WINDOW_S": "600",
            "AF_UPLOAD_BUFFER_BYTES": str(budget_mib * MIB),
        }
        with af_process(Path(tmp), env) as (url, proc):
            run = Run(ues, codec, budget_mib, rate_bps)
            asyncio.run(load(url, proc.pid, keys, run))
            return run.row()


PACED = 8e6  # bit/s per UE: a 1.6 MiB update takes ~1.7 s, so all 500 bodies are in flight together


def main() -> None:
    p = parser("load", __doc__)
    args = p.parse_args()
    # (UEs, codec, upload buffer budget MiB, uplink rate per UE or None for as fast as possible)
    plan: list[tuple[int, str, int, float | None]] = [(500, "none", 256, PACED)]
    if not args.quick:
        plan = [
            (500, "none", 256, None),
            (500, "none", 64, PACED),
            (500, "none", 256, PACED),
            (500, "none", 2048, PACED),
            (1000, "none", 256, None),
        ]
    rows = []
    for ues, codec, budget, rate in plan:
        how = f"paced at {rate / 1e6:g} Mbit/s each" if rate else "as fast as they can"
        console.print(f"{ues} UEs uploading {how}, codec {codec}, upload buffer budget {budget} MiB ...")
        rows.append(one_run(ues, codec, budget, rate))
    cols = [
        ("ues", "UEs"),
        ("peak_in_flight", "concurrent"),
        ("uplink_mbit_s", "UL Mbit/s"),
        ("update_mib", "update MiB"),
        ("budget_mib", "budget MiB"),
        ("accepted", "accepted"),
        ("lost", "lost"),
        ("errors_5xx", "5xx"),
        ("retried", "resent"),
        ("p50_s", "p50 s"),
        ("p99_s", "p99 s"),
        ("ingest_mib_s", "MiB/s"),
        ("rss_growth_mib", "RSS growth MiB"),
        ("all_updates_mib", "N x update MiB"),
        ("af_vmhwm_mib", "AF VmHWM MiB"),
    ]
    rows_out = [["-" if r[k] is None else r[k] for k, _ in cols] for r in rows]
    wide = Console(width=220)
    wide.print(table("One AF, N UEs uploading at once", [c for _, c in cols], rows_out))
    path = save("load", {"quick": args.quick, "paced_bit_s": PACED, "runs": rows})
    console.print(f"wrote {path}")


if __name__ == "__main__":
    main()
