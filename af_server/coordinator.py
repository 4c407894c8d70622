"""The round coordinator: holds the Redis lock, runs each job's iterations, takes uploads.

Only the replica holding the lock runs rounds and takes uploads; the other is not ready and takes
over from Redis and the checkpoints when the lock expires. Iteration n of a job is committed to
Redis together with the job's new version in one transaction, after its checkpoint is on disk, so
a crash re-runs at most the iteration that was open and never loses or repeats a completed one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import torch
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.requests import ClientDisconnect

from af_server.aggregation import Aggregator
from af_server.metrics import Metrics
from af_server.modelstore import GlobalModel
from af_server.nef_client import NefClient, NefError
from af_server.rounds import ActiveRound
from af_server.schemas import JobState, RoundRecord, Task, UeChoice
from af_server.selection import Candidate, Prediction, select_deadline, select_random
from af_server.settings import AfSettings
from af_server.store import Store
from flcore.codecs import CodecError
from flcore.data import ImageSet, load_fashion_mnist
from flcore.models import model_info
from flcore.problem import ProblemError
from flcore.training import evaluate
from flcore.wire import BodyError, parse_content_length, read_exactly

log = logging.getLogger("af_server.coordinator")

LATE_GRACE_S = 0.5  # how long a closed iteration waits for bodies already streaming, to record them late


class Coordinator:
    def __init__(self, settings: AfSettings, store: Store, metrics: Metrics, nef: NefClient | None) -> None:
        self.settings = settings
        self.store = store
        self.metrics = metrics
        self.nef = nef
        self.owner = f"af-{uuid.uuid4().hex[:12]}"
        self.is_leader = False
        self.redis_ok = False
        self.models: dict[str, GlobalModel] = {}
        self.active: dict[str, ActiveRound] = {}
        self.closing: dict[tuple[str, int], ActiveRound] = {}
        self.changed = asyncio.Condition()
        self._jobs: dict[str, asyncio.Task[None]] = {}
        self._test: ImageSet | None = None
        self._wake = asyncio.Event()

    @property
    def checkpoints(self) -> Path:
        return self.settings.state_dir / "checkpoints"

    # Leadership --------------------------------------------------------------------------
    async def run(self) -> None:
        period = self.settings.lock_ttl_s / 3
        try:
            while True:
                try:
                    if self.is_leader:
                        still = await self.store.renew_lock(self.owner, self.settings.lock_ttl_s)
                    else:
                        still = await self.store.acquire_lock(self.owner, self.settings.lock_ttl_s)
                    self.redis_ok = True
                except Exception as exc:  # redis down: keep going, not ready, retry
                    log.warning("redis unavailable: %s", exc)
                    self.redis_ok = False
                    still = self.is_leader  # keep running rounds until the lock could have expired
                if still and not self.is_leader:
                    log.info("%s is now the round coordinator", self.owner)
                if not still and self.is_leader:
                    log.warning("%s lost the coordinator lock", self.owner)
                    await self._stop_all_jobs()
                self.is_leader = still
                self.metrics.leader.set(1 if still else 0)
                if self.is_leader and self.redis_ok:
                    await self._start_jobs()
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), period)
        finally:
            await self._stop_all_jobs()
            if self.is_leader:
                with contextlib.suppress(Exception):
                    await self.store.release_lock(self.owner)

    def poke(self) -> None:
        self._wake.set()

    async def _start_jobs(self) -> None:
        for job in await self.store.jobs():
            if job.status in ("pending", "running") and job.id not in self._jobs:
                self._jobs[job.id] = asyncio.create_task(self._run_job(job.id), name=f"job-{job.id}")
        self.metrics.jobs_running.set(len(self._jobs))

    async def _stop_all_jobs(self) -> None:
        tasks = list(self._jobs.values())
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(BaseException):
                await t
        self._jobs.clear()
        self.active.clear()

    # Jobs ---------------------------------------------------------------------------------
    def test_set(self) -> ImageSet:
        if self._test is None:
            self._test = load_fashion_mnist("test")
        return self._test

    async def _model_for(self, job: JobState) -> GlobalModel:
        model = self.models.get(job.id)
        if model is not None and model.version == job.model_version:
            return model
        if job.checkpoint and Path(job.checkpoint).is_file():
            model = await asyncio.to_thread(
                GlobalModel.load, job.id, job.spec.model, job.model_version, Path(job.checkpoint)
            )
        else:
            model = GlobalModel.fresh(job.id, job.spec.model, job.spec.seed)
        self.models[job.id] = model
        return model

    async def _run_job(self, job_id: str) -> None:
        try:
            job = await self.store.get_job(job_id)
            if job is None:
                return
            model = await self._model_for(job)
            if job.status == "pending":
                job.status = "running"
                job.updated_at = time.time()
                await self.store.put_job(job)
            while job.rounds_done < job.spec.rounds:
                fresh = await self.store.get_job(job_id)
                if fresh is None or fresh.status not in ("running", "pending"):
                    return
                job = fresh
                job = await self._run_round(job, model)
            job.status = "completed"
            job.updated_at = time.time()
            await self.store.put_job(job)
            log.info("job %s completed after %d rounds", job.id, job.rounds_done)
        except asyncio.CancelledError:
            raise
        except (RedisConnectionError, RedisTimeoutError) as exc:
            # Redis is away, not the job at fault: leave the job as stored; the leader loop starts it
            # again from Redis and its checkpoint once Redis answers (an uncommitted round is re-run)
            log.warning("job %s paused until redis answers: %s", job_id, exc)
        except Exception as exc:
            log.exception("job %s failed", job_id)
            self.metrics.rounds.labels("failed").inc()
            job2 = await self.store.get_job(job_id)
            if job2 is not None:
                job2.status = "failed"
                job2.detail = f"{type(exc).__name__}: {exc}"
                await self.store.put_job(job2)
        finally:
            self.active.pop(job_id, None)
            self._jobs.pop(job_id, None)
            self.metrics.jobs_running.set(len(self._jobs))

    # One iteration ------------------------------------------------------------------------
    async def _candidates(self, model: GlobalModel) -> tuple[list[Candidate], bool]:
        now = time.time()
        ids = await self.store.ue_ids()
        rows = await self.store.ues(ids)
        cands = [
            Candidate(
                gpsi=g,
                num_samples=int(r.get("num_samples", 1)),
                seconds_per_step=float(r.get("seconds_per_step", 0.02)),
                on_time_rate=r.get("on_time_rate"),
                last_loss=r.get("last_loss"),
            )
            for g, r in rows.items()
            if now - float(r.get("last_seen", 0)) <= self.settings.ue_active_window_s
        ]
        if self.nef is None or not cands:
            return cands, self.nef is None
        nbytes = len(model.wire())
        try:
            preds = await self.nef.predict_transfer_times(
                [c.gpsi for c in cands], ul_bytes=nbytes, dl_bytes=nbytes, start_offset_s=1.0, duration_s=60.0
            )
        except NefError as exc:
            log.warning("NEF unavailable, selecting without network data: %s", exc)
            self.metrics.nef_degraded.set(1)
            return cands, True
        self.metrics.nef_degraded.set(0)
        for c in cands:
            p = preds.get(c.gpsi)
            if p is not None:
                c.prediction = Prediction(p.dl_mean_s, p.dl_var_s2, p.ul_mean_s, p.ul_var_s2, p.confidence)
                c.nef = {
                    "api": "3gpp-analyticsexposure",
                    "event": "E2E_DATA_VOL_TRANS_TIME",
                    "volumeBytes": nbytes,
                    "avgTransTimeUl": p.ul_mean_s,
                    "avgTransTimeDl": p.dl_mean_s,
                    "confidence": p.confidence,
                }
        return cands, False

    def _select(
        self, job: JobState, cands: list[Candidate], degraded: bool, rng: random.Random
    ) -> tuple[list[UeChoice], float, str]:
        spec = job.spec
        k = spec.ues_per_round
        fixed = spec.deadline.seconds if spec.deadline.mode == "fixed" else None
        policy = spec.selection
        if degraded and policy in ("deadline", "utility"):
            policy = "random"  # documented fallback: without NEF data, sample and use the fallback deadline
        if policy == "all":
            choices = [UeChoice(gpsi=c.gpsi, reason="all active UEs", nef=c.nef) for c in cands]
        elif policy == "random":
            choices = select_random(cands, k, rng)
        else:
            choices, derived = select_deadline(cands, k, steps=spec.local_steps, deadline_s=fixed)
            if fixed is None:
                fixed = derived * spec.deadline.slack
        if fixed is None:
            slowest = max(
                (c.total_s(spec.local_steps) for c in cands if c.gpsi in {x.gpsi for x in choices}),
                default=math.inf,
            )
            if not math.isfinite(slowest):
                compute = max((c.compute_s(spec.local_steps) for c in cands), default=1.0)
                slowest = compute * 2 + 1.0  # no link data: compute time plus a fixed transfer allowance
            fixed = slowest * spec.deadline.slack
        deadline = min(max(fixed, spec.deadline.min_seconds), spec.deadline.max_seconds)
        return choices, deadline, policy

    async def _run_round(self, job: JobState, model: GlobalModel) -> JobState:
        n = job.rounds_done
        spec = job.spec
        rng = random.Random(f"{spec.seed}:{job.id}:{n}")
        cands, degraded = await self._candidates(model)
        choices, deadline_s, policy = self._select(job, cands, degraded, rng)
        if not choices:
            # nobody to train: wait for UEs to attach instead of burning the round
            async with self.changed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.changed.wait(), 1.0)
            return job
        await self.store.r.delete(self.store.k("job", job.id, "r", n, "got"))
        agg = Aggregator(model.spec, spec.aggregation, spec.max_update_norm)
        rnd = ActiveRound(
            job=job,
            round_no=n,
            model_version=model.version,
            choices={c.gpsi: c for c in choices},
            deadline_s=deadline_s,
            aggregator=agg,
            policy=policy,
            nef_degraded=degraded,
        )
        self.active[job.id] = rnd
        self.metrics.selected.set(len(choices))
        self.metrics.round_deadline.set(deadline_s)
        async with self.changed:
            self.changed.notify_all()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(rnd.all_in.wait(), timeout=max(0.0, rnd.deadline_mono - time.monotonic()))
        rnd.closed = True
        self.closing[(job.id, n)] = rnd
        try:
            return await self._finish_round(job, model, rnd)
        finally:
            self.active.pop(job.id, None)
            self.closing.pop((job.id, n), None)

    async def _finish_round(self, job: JobState, model: GlobalModel, rnd: ActiveRound) -> JobState:
        spec = job.spec
        # let uploads whose bodies were already streaming at the deadline land, as late
        if rnd.inflight:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(rnd.settled.wait(), LATE_GRACE_S)
        records = rnd.close()
        for r in records:
            self.metrics.updates.labels(r.outcome).inc()
        on_time = [r for r in rnd.records.values() if r.outcome == "on_time"]
        status = "completed" if len(on_time) >= spec.min_reports else "abandoned"
        accuracy = loss = None
        if status == "completed":
            update = rnd.aggregator.result()
            if update is not None:
                await asyncio.to_thread(_apply, model, update)
        else:
            model.bump()
        evaluable = model_info(spec.model).input_shape == (1, 28, 28)  # payload-only models are not evaluated
        if evaluable and ((rnd.round_no + 1) % spec.eval_every == 0 or rnd.round_no + 1 == spec.rounds):
            accuracy, loss = await asyncio.to_thread(evaluate, model.module, self.test_set())
            self.metrics.accuracy.set(accuracy)
        path = await asyncio.to_thread(model.save, self.checkpoints)
        duration = rnd.elapsed()
        record = RoundRecord(
            job_id=job.id,
            round=rnd.round_no,
            status=status,
            model_version=model.version,
            started_at=rnd.started_wall,
            duration_s=duration,
            deadline_s=rnd.deadline_s,
            selected=list(rnd.choices),
            ues=list(rnd.records.values()),
            accuracy=accuracy,
            loss=loss,
            aggregation_s=0.0,
            selection_policy=rnd.policy,
            nef_degraded=rnd.nef_degraded,
        )
        job.rounds_done = rnd.round_no + 1
        job.model_version = model.version
        job.checkpoint = str(path)
        job.accuracy = accuracy if accuracy is not None else job.accuracy
        job.updated_at = time.time()
        if not await self.store.commit_round(job, record):
            raise RuntimeError(f"round {rnd.round_no} of job {job.id} was already committed elsewhere")
        self.metrics.rounds.labels(status).inc()
        self.metrics.round_duration.observe(duration)
        self.metrics.last_round_end.set(time.time())
        await self._update_ue_stats(rnd)
        log.info(
            "job %s round %d %s: %d/%d on time, accuracy %s, %.2fs",
            job.id,
            rnd.round_no,
            status,
            len(on_time),
            len(rnd.choices),
            accuracy,
            duration,
        )
        return job

    async def _update_ue_stats(self, rnd: ActiveRound) -> None:
        rows = await self.store.ues(list(rnd.records))
        for g, rec in rnd.records.items():
            row = rows.get(g, {})
            prev = row.get("on_time_rate")
            hit = 1.0 if rec.outcome == "on_time" else 0.0
            rate = hit if prev is None else 0.7 * float(prev) + 0.3 * hit
            fields: dict[str, object] = {
                "on_time_rate": rate,
                "times_selected": int(row.get("times_selected", 0)) + 1,
            }
            if rec.compute_s and rnd.job.spec.local_steps:
                fields["seconds_per_step"] = rec.compute_s / rnd.job.spec.local_steps
            await self.store.touch_ue(g, **fields)

    # UE-facing operations -----------------------------------------------------------------------
    def _open_task(self, gpsi: str) -> Task | None:
        for rnd in self.active.values():
            if rnd.wants(gpsi):
                return rnd.task_for(gpsi)
        return None

    async def wait_task(self, gpsi: str, timeout: float) -> Task | None:
        end = time.monotonic() + timeout
        async with self.changed:
            while True:
                task = self._open_task(gpsi)
                if task is not None or not self.is_leader:
                    return task
                remaining = end - time.monotonic()
                if remaining <= 0:
                    return None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.changed.wait(), remaining)

    def model_for_download(self, job_id: str) -> GlobalModel:
        model = self.models.get(job_id)
        if model is None:
            raise ProblemError(404, f"no model is being served for job {job_id}", cause="JOB_NOT_ACTIVE")
        return model

    async def accept_upload(
        self,
        job_id: str,
        round_no: int,
        gpsi: str,
        headers: Mapping[str, str],
        body: AsyncIterator[bytes],
        *,
        max_samples: int,
    ) -> dict[str, object]:
        """Take one UE's update: checks before the body, stream into one buffer, fold into the sum."""
        start = time.monotonic()
        rnd = self.active.get(job_id) or next((r for (j, _), r in self.closing.items() if j == job_id), None)
        if rnd is None or rnd.round_no != round_no:
            current = rnd.round_no if rnd else None
            cause = "ROUND_CLOSED" if current is None or round_no < current else "WRONG_ROUND"
            raise ProblemError(
                409,
                f"iteration {round_no} of job {job_id} is not open (open: {current})",
                cause=cause,
                invalid=[("round", f"open iteration is {current}")],
            )
        if gpsi not in rnd.choices:
            raise ProblemError(403, f"{gpsi} was not selected for iteration {round_no}", cause="NOT_SELECTED")
        if gpsi in rnd.records or gpsi in rnd.inflight:
            raise ProblemError(
                409, f"{gpsi} already reported for iteration {round_no}", cause="DUPLICATE_UPDATE"
            )
        if rnd.closed and (job_id, round_no) not in self.closing:
            raise ProblemError(409, f"iteration {round_no} is closed", cause="ROUND_CLOSED")
        limit = self.settings.max_upload_bytes
        budget = rnd.choices[gpsi].byte_budget
        if budget is not None:
            limit = min(limit, budget)
        try:
            length = parse_content_length(headers.get("content-length"), limit=limit)
            samples = min(_positive(headers, "fl5g-num-samples", int), max_samples)
        except BodyError as exc:
            raise ProblemError(exc.status, str(exc), invalid=[(exc.param, str(exc))]) from None
        if not await self.store.claim_upload(job_id, round_no, gpsi):
            raise ProblemError(
                409, f"{gpsi} already reported for iteration {round_no}", cause="DUPLICATE_UPDATE"
            )
        rnd.inflight.add(gpsi)
        rnd.settled.clear()
        try:
            try:
                buf = await read_exactly(body, length)
            except BodyError as exc:
                await self.store.unclaim_upload(job_id, round_no, gpsi)
                raise ProblemError(exc.status, str(exc), invalid=[(exc.param, str(exc))]) from None
            except ClientDisconnect:
                # the UE went away mid-body: drop what came, let it try again while the round is open
                await self.store.unclaim_upload(job_id, round_no, gpsi)
                raise ProblemError(400, "upload aborted before its end", cause="INCOMPLETE_BODY") from None
            arrival = rnd.elapsed()
            ul_s = time.monotonic() - start
            self.metrics.transfer_bytes.labels("ul").inc(length)
            extra = {
                "actual_ul_s": round(ul_s, 6),
                "actual_dl_s": _optional(headers, "fl5g-download-seconds"),
                "compute_s": _optional(headers, "fl5g-compute-seconds"),
                "energy_j": _optional(headers, "fl5g-energy-joules"),
                "arrival_s": round(arrival, 6),
                "bytes_ul": length,
                "num_samples": samples,
            }
            if rnd.closed or time.monotonic() > rnd.deadline_mono:
                # a body still streaming after the late grace was written off as missing at the
                # close (counted, committed): it stays that, or the UE is counted twice
                if gpsi not in rnd.records:
                    self.metrics.updates.labels("late").inc()
                    self.metrics.update_latency.observe(arrival)
                    rnd.record(gpsi, "late", **extra)
                return {
                    "outcome": "late",
                    "aggregated": False,
                    "arrival_s": arrival,
                    "deadline_s": rnd.deadline_s,
                }
            t0 = time.perf_counter()
            try:
                norm = await asyncio.to_thread(rnd.aggregator.add, buf, float(samples))
            except CodecError as exc:
                # refused, not counted yet: the UE may still send a good update before the deadline
                rnd.rejections[gpsi] = str(exc)
                await self.store.unclaim_upload(job_id, round_no, gpsi)
                raise ProblemError(
                    400, f"update refused: {exc}", cause="INVALID_UPDATE", invalid=[(exc.param or "body", str(exc))]
                ) from None
            self.metrics.aggregation.observe(time.perf_counter() - t0)
            self.metrics.updates.labels("on_time").inc()
            self.metrics.update_latency.observe(arrival)
            rnd.record(gpsi, "on_time", **extra)
            return {"outcome": "on_time", "aggregated": True, "arrival_s": arrival, "norm": norm}
        finally:
            rnd.inflight.discard(gpsi)
            if not rnd.inflight:
                rnd.settled.set()


def _apply(model: GlobalModel, update: dict[str, torch.Tensor]) -> None:
    with torch.no_grad():
        state = model.module.state_dict()
        for name, value in update.items():
            state[name].add_(value)
    model.bump()


def _positive(headers: Mapping[str, str], name: str, kind: type[int]) -> int:
    raw = headers.get(name)
    if raw is None:
        raise BodyError(f"header {name} is required", param=name)
    try:
        v = kind(raw)
    except ValueError:
        raise BodyError(f"header {name} must be an integer, not {raw!r}", param=name) from None
    if v <= 0 or v > 10_000_000:
        raise BodyError(f"header {name} must be in 1..10000000", param=name)
    return v


def _optional(headers: Mapping[str, str], name: str) -> float | None:
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        v = float(raw)
    except ValueError:
        return None
    return v if math.isfinite(v) and v >= 0 else None
