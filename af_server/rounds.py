"""One open iteration: who was chosen, whose updates it collects, the deadline, the running sum.

``sync``: the UEs chosen for iteration n train on its base version and their updates are collected
and aggregated in iteration n.

``realtime`` (TR 22.874 Figure 7.x.1-2): the model of iteration n + 1 does not wait for the updates
computed on the model of iteration n. The UEs chosen for iteration n download its base version v
while they finish training on v - 1; they train on v while their update of v - 1 uploads, and the
update computed on v is aggregated in iteration n + 1, whose base is v + 1: one version stale. It may
arrive while iteration n is still open: it is then decoded at once into iteration n + 1's running sum
(``ahead``), never into n's. The first iteration collects nothing (the pipeline fills): it closes as
soon as its UEs have their tasks and publishes its base unchanged. An iteration closes early once
every update it collects is in (or its UE was dropped); the last one chooses nobody.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from af_server.aggregation import Aggregator
from af_server.schemas import JobState, Outcome, Task, UeChoice, UeRecord


@dataclass
class Collection:
    """The updates answering the tasks of one iteration (``task_round``), computed on ``base``."""

    task_round: int
    base: int
    owed: dict[str, UeChoice]
    aggregator: Aggregator
    records: dict[str, UeRecord] = field(default_factory=dict)
    inflight: set[str] = field(default_factory=set)
    rejections: dict[str, str] = field(default_factory=dict)
    complete: asyncio.Event = field(default_factory=asyncio.Event)
    settled: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.settled.set()
        self.check()

    def check(self) -> None:
        if set(self.owed) <= set(self.records):
            self.complete.set()


@dataclass
class ActiveRound:
    job: JobState
    round_no: int
    model_version: int
    choices: dict[str, UeChoice]
    deadline_s: float
    collect: Collection
    policy: str
    ahead: Collection | None = None
    nef_degraded: bool = False
    expected_on_time: float | None = None
    over_energy_cap: dict[str, float | None] = field(default_factory=dict)
    started_wall: float = field(default_factory=time.time)
    started_mono: float = field(default_factory=time.monotonic)
    dispatched: set[str] = field(default_factory=set)
    closed: bool = False
    filled: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def realtime(self) -> bool:
        return self.job.spec.timeline == "realtime"

    @property
    def filling(self) -> bool:
        """realtime's first iteration: it collects nothing, it only hands out the first model."""
        return self.realtime and self.collect.task_round < 0

    @property
    def records(self) -> dict[str, UeRecord]:
        return self.collect.records

    @property
    def deadline_mono(self) -> float:
        return self.started_mono + self.deadline_s

    def elapsed(self) -> float:
        return time.monotonic() - self.started_mono

    def __post_init__(self) -> None:
        if not self.choices:
            self.filled.set()

    async def wait_closable(self) -> None:
        """Every collected update is in; in realtime also every chosen UE has its task (an iteration
        closed before a UE fetched its task would leave that UE out of the pipeline)."""
        await self.collect.complete.wait()
        if self.realtime:
            await self.filled.wait()

    def wants(self, gpsi: str) -> bool:
        """Whether the UE has a task here that it was not given yet (one task per UE and iteration)."""
        return not self.closed and gpsi in self.choices and gpsi not in self.dispatched

    def dispatch(self, gpsi: str) -> Task:
        self.dispatched.add(gpsi)
        if set(self.choices) <= self.dispatched:
            self.filled.set()
        return self.task_for(gpsi)

    def task_for(self, gpsi: str) -> Task:
        spec = self.job.spec
        base = f"/af/v1/jobs/{self.job.id}"
        return Task(
            job_id=self.job.id,
            round=self.round_no,
            model=spec.model,
            model_version=self.model_version,
            model_url=f"{base}/model",
            upload_url=f"{base}/rounds/{self.round_no}/updates",
            local_steps=spec.local_steps,
            batch_size=spec.batch_size,
            lr=spec.lr,
            seed=spec.seed,
            codec=spec.codec,
            density=spec.density,
            topk_values=spec.topk_values,
            byte_budget=self.choices[gpsi].byte_budget,
            deadline_s=self.deadline_s,
            deadline_at=self.started_wall + self.deadline_s,
            timeline=spec.timeline,
            downlink=spec.downlink,
        )

    def target(self, gpsi: str, task_round: int) -> tuple[Collection, bool] | None:
        """Where an update answering the task of ``task_round`` goes, and whether it is early (for the
        next iteration, so never late); None when this iteration has nothing to do with it."""
        if task_round == self.collect.task_round and gpsi in self.collect.owed:
            return self.collect, False
        if self.ahead is not None and task_round == self.ahead.task_round and gpsi in self.ahead.owed:
            return self.ahead, True
        return None

    def aggregated_base(self, c: Collection) -> int:
        """The base version of the iteration that aggregates ``c``."""
        return c.base + 1 if self.realtime else c.base

    def record(self, c: Collection, gpsi: str, outcome: Outcome, **fields: object) -> UeRecord:
        choice = c.owed[gpsi]
        rec = UeRecord(
            gpsi=gpsi,
            outcome=outcome,
            reason=choice.reason,
            predicted_dl_s=choice.predicted_dl_s,
            predicted_ul_s=choice.predicted_ul_s,
            deadline_s=self.deadline_s,
            budget_s=choice.budget_s,
            p_on_time=choice.p_on_time,
            predicted_energy_j=choice.predicted_energy_j,
            byte_budget=choice.byte_budget,
            nef=choice.nef,
            selected_round=c.task_round,
            **fields,
        )
        c.records[gpsi] = rec
        c.check()
        return rec

    def drop(self, gpsi: str, detail: str) -> list[UeRecord]:
        """Stop waiting for a UE (the NEF says it cannot make it): missing, its uploads refused."""
        if self.closed:
            return []
        self.dispatched.add(gpsi)
        out = []
        for c in (self.collect, self.ahead):
            if c is not None and gpsi in c.owed and gpsi not in c.records and gpsi not in c.inflight:
                out.append(self.record(c, gpsi, "missing", detail=detail))
        return out

    def close(self) -> list[UeRecord]:
        """Stop accepting; an owed update that did not come is rejected (if a bad one came) or missing."""
        self.closed = True
        c = self.collect
        out = []
        for g in c.owed:
            if g in c.records:
                continue
            if g in c.rejections:
                out.append(self.record(c, g, "rejected", detail=c.rejections[g]))
            else:
                out.append(self.record(c, g, "missing"))
        return out
