"""Running FL jobs on a local stack for the benchmarks, and reading their round records."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from fl5g.launcher import Stack


@contextmanager
def stack(
    ues: int,
    *,
    processes: int = 0,
    seed: int = 0,
    alpha: float = 0.5,
    workers: int = 1,
    pace: bool = True,
    env: dict[str, str] | None = None,
) -> Iterator[Stack]:
    """NEF, AF and UE processes on loopback (embedded Redis), every UE registered."""
    extra = {"UE_TRAIN_WORKERS": str(workers), "UE_POLL_WAIT_S": "5", **(env or {})}
    with Stack(ues=ues, ue_processes=processes, seed=seed, alpha=alpha, pace=pace, extra_env=extra) as st:
        st.wait_ues_registered(timeout=180)
        yield st


def run_job(st: Stack, spec: dict[str, Any], *, timeout_s: float = 900) -> dict[str, Any]:
    """The job's records; a job that did not complete is an error here."""
    res = st.run_job(spec, timeout_s=timeout_s)
    job = res["job"]
    if job["status"] != "completed":
        raise RuntimeError(f"job {job['id']} {job['status']}: {job.get('detail')}")
    return res


def override(st: Stack, gpsi: str, **fields: Any) -> None:
    """Fault injection on one UE's link (emulator API), e.g. ``ulRateBps``."""
    httpx.put(f"{st.nef_url}/emulator/v1/ues/{gpsi}/override", json=fields, timeout=10).raise_for_status()


@dataclass
class Outcomes:
    selected: int
    on_time: int
    late: int
    missing: int
    rejected: int

    @property
    def compliance(self) -> float:
        return self.on_time / self.selected if self.selected else 0.0


def outcomes(rounds: list[dict[str, Any]]) -> Outcomes:
    ues = [u for r in rounds for u in r["ues"]]

    def n(o: str) -> int:
        return sum(u["outcome"] == o for u in ues)

    return Outcomes(len(ues), n("on_time"), n("late"), n("missing"), n("rejected"))


def round_end(r: dict[str, Any]) -> float:
    return float(r["started_at"]) + float(r["duration_s"])


def time_to(rounds: list[dict[str, Any]], target: float) -> float | None:
    """Wall seconds from the first dispatch to the end of the first round at ``target`` accuracy."""
    if not rounds:
        return None
    t0 = float(rounds[0]["started_at"])
    for r in rounds:
        if r.get("accuracy") is not None and r["accuracy"] >= target:
            return round_end(r) - t0
    return None


def final_accuracy(rounds: list[dict[str, Any]]) -> float | None:
    return next((r["accuracy"] for r in reversed(rounds) if r.get("accuracy") is not None), None)
