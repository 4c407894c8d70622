"""One open iteration: who was chosen, who is due, the deadline, the running aggregate, the records.

``sync``: the UEs chosen for iteration n train on its base version and are due in it.
``realtime`` (TR 22.874 Figure 7.x.1-2): the UEs chosen for iteration n download its base version b
while they finish training on b - 1, then train on b while their update of b - 1 uploads; so the
update a UE computes on b is due in iteration n + 1 (staleness 1), or may arrive in n itself
(staleness 0). An iteration's due set is the previous iteration's choice.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from af_server.aggregation import Aggregator
from af_server.schemas import JobState, Outcome, Task, UeChoice, UeRecord


@dataclass
class ActiveRound:
    job: JobState
    round_no: int
    model_version: int
    choices: dict[str, UeChoice]
    deadline_s: float
    aggregator: Aggregator
    policy: str
    nef_degraded: bool = False
    due: dict[str, UeChoice] = field(default_factory=dict)
    """realtime: the previous iteration's choices, whose updates of ``due_version`` are due here."""
    due_version: int | None = None
    expected_on_time: float | None = None
    started_wall: float = field(default_factory=time.time)
    started_mono: float = field(default_factory=time.monotonic)
    records: dict[str, UeRecord] = field(default_factory=dict)
    inflight: set[str] = field(default_factory=set)
    dispatched: set[str] = field(default_factory=set)
    rejections: dict[str, str] = field(default_factory=dict)
    closed: bool = False
    all_in: asyncio.Event = field(default_factory=asyncio.Event)
    settled: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def realtime(self) -> bool:
        return self.job.spec.timeline == "realtime"

    @property
    def deadline_mono(self) -> float:
        return self.started_mono + self.deadline_s

    def elapsed(self) -> float:
        return time.monotonic() - self.started_mono

    def wants(self, gpsi: str) -> bool:
        """Whether the UE has a task here that it was not given yet (one task per UE and iteration)."""
        return not self.closed and gpsi in self.choices and gpsi not in self.dispatched

    def expected(self) -> set[str]:
        """Whose records close the iteration early: the due UEs, or (none due) the chosen ones."""
        return set(self.due) if self.due else set(self.choices)

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
            byte_budget=self.choices[gpsi].byte_budget,
            deadline_s=self.deadline_s,
            deadline_at=self.started_wall + self.deadline_s,
            timeline=spec.timeline,
            downlink=spec.downlink,
        )

    def slot(self, gpsi: str, round_no: int) -> tuple[UeChoice, int] | None:
        """The choice behind an upload to ``round_no`` and the version it is computed on; None when the
        UE has nothing due or allowed here (fresh: chosen here; stale by one: due here)."""
        if round_no == self.round_no and gpsi in self.choices:
            return self.choices[gpsi], self.model_version
        if (
            self.realtime
            and round_no == self.round_no - 1
            and gpsi in self.due
            and self.due_version is not None
        ):
            return self.due[gpsi], self.due_version
        return None

    def record(
        self, gpsi: str, outcome: Outcome, choice: UeChoice | None = None, **fields: object
    ) -> UeRecord:
        choice = choice or self.choices.get(gpsi) or self.due[gpsi]
        rec = UeRecord(
            gpsi=gpsi,
            outcome=outcome,
            reason=choice.reason,
            predicted_dl_s=choice.predicted_dl_s,
            predicted_ul_s=choice.predicted_ul_s,
            deadline_s=self.deadline_s,
            budget_s=choice.budget_s,
            p_on_time=choice.p_on_time,
            byte_budget=choice.byte_budget,
            nef=choice.nef,
            **fields,
        )
        self.records[gpsi] = rec
        if self.expected() <= set(self.records):
            self.all_in.set()
        return rec

    def drop(self, gpsi: str, detail: str) -> UeRecord | None:
        """Stop waiting for a UE (the NEF says it cannot make it): recorded missing, its upload refused."""
        if self.closed or gpsi in self.records or gpsi in self.inflight:
            return None
        if gpsi not in self.choices and gpsi not in self.due:
            return None
        self.dispatched.add(gpsi)
        selected = self.round_no if gpsi in self.choices else self.round_no - 1
        return self.record(gpsi, "missing", detail=detail, selected_round=selected)

    def close(self) -> list[UeRecord]:
        """Stop accepting; an expected UE without a good update is rejected (if it sent a bad one) or
        missing. In realtime the chosen UEs are due in the next iteration, not here."""
        self.closed = True
        owed = self.due if self.realtime else self.choices
        if self.realtime and not self.due:
            owed = {}
        out = []
        for g in owed:
            if g in self.records:
                continue
            selected = self.round_no - 1 if self.realtime else self.round_no
            if g in self.rejections:
                out.append(
                    self.record(g, "rejected", owed[g], detail=self.rejections[g], selected_round=selected)
                )
            else:
                out.append(self.record(g, "missing", owed[g], selected_round=selected))
        return out
