"""One open iteration: who was chosen, the deadline, the running aggregate and each UE's record."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from af_server.aggregation import Aggregator
from af_server.schemas import Outcome, Task, UeChoice, UeRecord
from af_server.schemas import JobState


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
    started_wall: float = field(default_factory=time.time)
    started_mono: float = field(default_factory=time.monotonic)
    records: dict[str, UeRecord] = field(default_factory=dict)
    inflight: set[str] = field(default_factory=set)
    rejections: dict[str, str] = field(default_factory=dict)
    closed: bool = False
    all_in: asyncio.Event = field(default_factory=asyncio.Event)
    settled: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def deadline_mono(self) -> float:
        return self.started_mono + self.deadline_s

    def elapsed(self) -> float:
        return time.monotonic() - self.started_mono

    def wants(self, gpsi: str) -> bool:
        return (
            not self.closed
            and gpsi in self.choices
            and gpsi not in self.records
            and gpsi not in self.inflight
        )

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
        )

    def record(self, gpsi: str, outcome: Outcome, **fields: object) -> UeRecord:
        choice = self.choices[gpsi]
        rec = UeRecord(
            gpsi=gpsi,
            outcome=outcome,
            reason=choice.reason,
            predicted_dl_s=choice.predicted_dl_s,
            predicted_ul_s=choice.predicted_ul_s,
            deadline_s=self.deadline_s,
            nef=choice.nef,
            **fields,
        )
        self.records[gpsi] = rec
        if len(self.records) == len(self.choices):
            self.all_in.set()
        return rec

    def close(self) -> list[UeRecord]:
        """Stop accepting; a chosen UE without a good update is rejected (if it sent a bad one) or missing."""
        self.closed = True
        return [
            self.record(g, "rejected", detail=self.rejections[g])
            if g in self.rejections
            else self.record(g, "missing")
            for g in self.choices
            if g not in self.records
        ]
