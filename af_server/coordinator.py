"""The round coordinator: holds the Redis lock, runs each job's iterations, takes uploads.

Only the replica holding the lock runs rounds and takes uploads; the other is not ready and takes
over from Redis and the checkpoints when the lock expires. Iteration n of a job is committed to
Redis together with the job's new version in one transaction, after its checkpoint is on disk, so
a crash re-runs at most the iteration that was open and never loses or repeats a completed one.

An iteration: plan (``planner``: NEF data, selection, deadline, byte budgets), ask for QoS boosts
(``netctl``), dispatch, collect until every expected update is in or the deadline passes, publish the
aggregate as the next version, then evaluate, checkpoint and commit. ``sync`` does all of it before
the next iteration opens. ``realtime`` opens the next iteration as soon as the version is published
and evaluates, checkpoints and commits the previous one beside it (in order), so the UEs' pipeline
never waits for the AF's bookkeeping (see ``rounds`` and ``uploads`` for what is due when).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from af_server.aggregation import Aggregator
from af_server.budgets import Ewma, step_stats
from af_server.metrics import Metrics
from af_server.modelstore import GlobalModel
from af_server.nef_client import NefClient
from af_server.netctl import NetworkControl
from af_server.planner import Planner
from af_server.rounds import ActiveRound, Collection
from af_server.schemas import JobSpec, JobState, RoundRecord, Task, UeChoice, UeRecord
from af_server.selection import calibrated_ratio
from af_server.settings import AfSettings
from af_server.store import Store
from af_server.uploads import Upload, accept, find_round
from flcore.data import ImageSet, load_fashion_mnist, stratified_subset
from flcore.models import build_model, model_info
from flcore.problem import ProblemError
from flcore.training import evaluate

log = logging.getLogger("af_server.coordinator")

LATE_GRACE_S = 0.5  # how long a closed iteration waits for bodies already streaming, to record them late


@dataclass
class Published:
    """What an iteration left behind at publication, for its (possibly deferred) bookkeeping."""

    rnd: ActiveRound
    status: str
    version: int
    state: dict[str, torch.Tensor] | None
    wire: bytes
    aggregation_s: float
    duration_s: float


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
        self.specs: dict[str, JobSpec] = {}
        self.active: dict[str, ActiveRound] = {}
        self.closing: dict[tuple[str, int], ActiveRound] = {}
        self.changed = asyncio.Condition()
        self.planner = Planner(settings, store, metrics, nef)
        self.netctl = NetworkControl(settings, nef, self._callback_uri)
        self.aggregation_time = Ewma()
        self._jobs: dict[str, asyncio.Task[None]] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._test: ImageSet | None = None
        self._wake = asyncio.Event()

    @property
    def checkpoints(self) -> Path:
        return self.settings.state_dir / "checkpoints"

    async def _callback_uri(self, kind: str, correlation: str) -> str:
        from af_server.routes.callbacks import notification_uri  # the route module imports this one

        return await notification_uri(self.store, self.settings.url, kind, correlation)  # type: ignore[arg-type]

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
            with contextlib.suppress(Exception):
                await self.netctl.close()
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
        tasks = list(self._jobs.values()) + list(self._background)
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(BaseException):
                await t
        self._jobs.clear()
        self._background.clear()
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
        if job.checkpoint:
            if not Path(job.checkpoint).is_file():
                # starting over from a fresh model would silently throw the finished rounds away
                raise RuntimeError(
                    f"checkpoint {job.checkpoint} of version {job.model_version} is not readable here: "
                    "AF replicas must share AF_STATE_DIR (a ReadWriteMany volume in Kubernetes)"
                )
            model = await asyncio.to_thread(
                GlobalModel.load, job.id, job.spec.model, job.model_version, Path(job.checkpoint)
            )
        else:
            model = GlobalModel.fresh(job.id, job.spec.model, job.spec.seed)
        self.models[job.id] = model
        return model

    async def _run_job(self, job_id: str) -> None:
        pending: asyncio.Task[None] | None = None
        try:
            job = await self.store.get_job(job_id)
            if job is None:
                return
            model = await self._model_for(job)
            self.specs[job.id] = job.spec
            if job.spec.downlink != "full":
                await asyncio.to_thread(model.start_chain, job.spec.downlink, job.spec.downlink_density)
            if job.status == "pending":
                job.status = "running"
                job.updated_at = time.time()
                await self.store.put_job(job)
            n = job.rounds_done
            prev: ActiveRound | None = None
            while n < job.spec.rounds:
                fresh = await self.store.get_job(job_id)
                if fresh is None or fresh.status not in ("running", "pending"):
                    return
                rnd = await self._open_round(job, model, n, prev)
                if rnd is None:
                    continue
                pub = await self._close_round(job, model, rnd)
                if job.spec.timeline == "realtime":
                    pending = self._spawn(self._bookkeep(job, pub, after=pending))
                    prev = rnd
                else:
                    await self._bookkeep(job, pub, after=None)
                    prev = rnd
                n += 1
            if pending is not None:
                await pending
            job.status = "completed"
            job.updated_at = time.time()
            await self.store.put_job(job)
            log.info("job %s completed after %d rounds", job.id, job.rounds_done)
        except asyncio.CancelledError:
            if pending is not None:
                pending.cancel()
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
            with contextlib.suppress(Exception):
                await self.netctl.release(job_id)

    def _spawn(self, coro: Any) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    # One iteration ------------------------------------------------------------------------
    async def _open_round(
        self, job: JobState, model: GlobalModel, n: int, prev: ActiveRound | None
    ) -> ActiveRound | None:
        """Plan, boost and dispatch iteration n; None (after a short wait) when nobody can train."""
        spec = job.spec
        realtime = spec.timeline == "realtime"
        rng = random.Random(f"{spec.seed}:{job.id}:{n}")
        carried = prev.ahead if realtime and prev is not None else None
        due = {g for g in carried.owed if g not in carried.records} if carried is not None else set()
        plan = await self.planner.plan(
            job,
            model,
            rng,
            aggregation_s=self.aggregation_time.value(),
            incumbents=set(prev.choices) if prev is not None else set(),
            due=list(due),
            window_s=prev.deadline_s if prev is not None else 5.0,
        )
        choices = plan.choices
        if realtime and n == spec.rounds - 1 and n > 0:
            choices = []  # the last iteration only collects: nothing would take an update computed now
        if not choices and not (carried is not None and carried.owed):
            # nobody to train: wait for UEs to attach instead of burning the round
            async with self.changed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.changed.wait(), 1.0)
            return None
        if spec.qos_boost:
            window = plan.deadline_s * (2 if realtime else 1)
            await self.netctl.boost(job.id, choices, plan.candidates, window)
        await self.store.r.delete(self.store.k("job", job.id, "r", n, "got"))
        by_id = {c.gpsi: c for c in choices}

        def collection(task_round: int, owed: dict[str, UeChoice]) -> Collection:
            agg = Aggregator(model.spec, spec.aggregation, spec.max_update_norm)
            return Collection(task_round, model.version, owed, agg)

        if not realtime:
            collect, ahead = collection(n, by_id), None
        else:
            collect = carried if carried is not None else collection(-1, {})
            ahead = collection(n, by_id)
        rnd = ActiveRound(
            job=job,
            round_no=n,
            model_version=model.version,
            choices=by_id,
            deadline_s=plan.deadline_s,
            collect=collect,
            ahead=ahead,
            policy=plan.policy,
            nef_degraded=plan.degraded,
            expected_on_time=plan.expected_on_time,
            over_energy_cap=plan.over_energy_cap,
        )
        for rec in collect.records.values():
            rec.deadline_s = plan.deadline_s  # updates that came early count against this deadline
        self.active[job.id] = rnd
        self.metrics.selected.set(len(choices))
        self.metrics.round_deadline.set(plan.deadline_s)
        self._spawn(self.netctl.watch(list(rnd.choices)))
        async with self.changed:
            self.changed.notify_all()
        return rnd

    async def _close_round(self, job: JobState, model: GlobalModel, rnd: ActiveRound) -> Published:
        """Wait for the updates collected here or the deadline, then publish the aggregate as the next
        version. In realtime the closed iteration stays findable until the next one opens: updates for
        its tasks (aggregated in the next one) keep arriving meanwhile."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                rnd.wait_closable(), timeout=max(0.0, rnd.deadline_mono - time.monotonic())
            )
        rnd.closed = True
        self.closing[(job.id, rnd.round_no)] = rnd
        c = rnd.collect
        try:
            # let uploads whose bodies were already streaming at the deadline land, as late
            if c.inflight:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(c.settled.wait(), LATE_GRACE_S)
            t0 = time.perf_counter()
            for r in rnd.close():
                self.metrics.updates.labels(r.outcome).inc()
            on_time = [r for r in c.records.values() if r.outcome == "on_time"]
            # realtime's first iteration collects nothing: it only hands out the first model
            status = "completed" if rnd.filling or len(on_time) >= job.spec.min_reports else "abandoned"
            update = c.aggregator.result() if status == "completed" else None
            if update is not None:
                await asyncio.to_thread(_apply, model, update)
            else:
                await asyncio.to_thread(model.bump)
            wire = model.wire()
            agg = time.perf_counter() - t0
            self.aggregation_time.add(agg)
            evaluable = model_info(job.spec.model).input_shape == (1, 28, 28)  # payload-only: never evaluated
            state = (
                {k: v.detach().clone() for k, v in model.module.state_dict().items()} if evaluable else None
            )
            duration = rnd.elapsed()
        finally:
            if not rnd.realtime:
                self.active.pop(job.id, None)
            self.closing.pop((job.id, rnd.round_no), None)
        await self._release_boosts(job, rnd)
        return Published(rnd, status, model.version, state, wire, agg, duration)

    async def _release_boosts(self, job: JobState, rnd: ActiveRound) -> None:
        """Boosts of UEs with nothing left to send: everyone chosen (sync), the UEs whose updates were
        collected here and that were not chosen again (realtime)."""
        done = set(rnd.collect.owed) - set(rnd.choices) if rnd.realtime else set(rnd.choices)
        if done:
            await self.netctl.release(job.id, done)

    async def _bookkeep(self, job: JobState, pub: Published, *, after: asyncio.Task[None] | None) -> None:
        """Evaluate, checkpoint and commit a published iteration (after the previous one's)."""
        if after is not None:
            await after
        rnd, spec = pub.rnd, job.spec
        accuracy = loss = None
        evaluable = model_info(spec.model).input_shape == (1, 28, 28)  # payload-only models are not evaluated
        final = rnd.round_no + 1 == spec.rounds
        if evaluable and pub.state is not None and ((rnd.round_no + 1) % spec.eval_every == 0 or final):
            subset = self.test_set() if final else stratified_subset(self.test_set(), spec.eval_samples)
            accuracy, loss = await asyncio.to_thread(_evaluate, spec.model, pub.state, subset)
            self.metrics.accuracy.set(accuracy)
        path = await asyncio.to_thread(_save, self.checkpoints, job.id, pub.version, pub.wire)
        on_time = sum(r.outcome == "on_time" for r in rnd.collect.records.values())
        record = RoundRecord(
            job_id=job.id,
            round=rnd.round_no,
            status="completed" if pub.status == "completed" else "abandoned",
            model_version=pub.version,
            started_at=rnd.started_wall,
            duration_s=pub.duration_s if rnd.realtime else rnd.elapsed(),
            deadline_s=rnd.deadline_s,
            selected=list(rnd.choices),
            ues=list(rnd.collect.records.values()),
            accuracy=accuracy,
            loss=loss,
            aggregation_s=round(pub.aggregation_s, 6),
            selection_policy=rnd.policy,
            timeline=spec.timeline,
            expected_on_time=rnd.expected_on_time,
            over_energy_cap=rnd.over_energy_cap,
            nef_degraded=rnd.nef_degraded,
        )
        job.rounds_done = rnd.round_no + 1
        job.model_version = pub.version
        job.checkpoint = str(path)
        job.accuracy = accuracy if accuracy is not None else job.accuracy
        job.updated_at = time.time()
        if not await self.store.commit_round(job, record):
            raise RuntimeError(f"round {rnd.round_no} of job {job.id} was already committed elsewhere")
        self.metrics.rounds.labels(pub.status).inc()
        self.metrics.round_duration.observe(record.duration_s)
        self.metrics.last_round_end.set(time.time())
        await self._update_ue_stats(rnd)
        log.info(
            "job %s round %d %s: %d/%d on time, accuracy %s, %.2fs",
            job.id,
            rnd.round_no,
            pub.status,
            on_time,
            len(rnd.collect.records),
            accuracy,
            record.duration_s,
        )

    async def _update_ue_stats(self, rnd: ActiveRound) -> None:
        rows = await self.store.ues(list(rnd.collect.records))
        steps = rnd.job.spec.local_steps
        self.planner.observe_compute(
            [r.compute_s / steps for r in rnd.collect.records.values() if r.compute_s]
        )
        for g, rec in rnd.collect.records.items():
            row = rows.get(g, {})
            prev = row.get("on_time_rate")
            hit = 1.0 if rec.outcome == "on_time" else 0.0
            fields: dict[str, object] = {
                "on_time_rate": hit if prev is None else 0.7 * float(prev) + 0.3 * hit,
                "times_selected": int(row.get("times_selected", 0)) + 1,
            }
            fields.update(_measured(rec, row, steps))
            await self.store.touch_ue(g, **fields)

    # NEF notifications --------------------------------------------------------------------------
    async def on_nef_notification(self, kind: str, correlation: str, body: Any) -> None:
        """A notification at the AF's callback: member selection answers, QoS and connectivity events."""
        if self.nef is not None and kind == "musa":
            self.nef.handle_notification(body)
        drops, releases = self.netctl.interpret(kind, body)
        if releases:
            self._spawn(self.netctl.release_boosts(releases))
        for drop in drops:
            for rnd in list(self.active.values()):
                if drop.job_id is not None and rnd.job.id != drop.job_id:
                    continue
                for _ in rnd.drop(drop.gpsi, f"dropped: NEF {drop.event}"):
                    self.metrics.updates.labels("missing").inc()
                    log.info(
                        "job %s round %d: %s dropped (%s)", rnd.job.id, rnd.round_no, drop.gpsi, drop.event
                    )
        log.debug("NEF %s notification for %s handled", kind, correlation)

    # UE-facing operations -----------------------------------------------------------------------
    def _open_task(self, gpsi: str) -> Task | None:
        for rnd in self.active.values():
            if rnd.wants(gpsi):
                return rnd.dispatch(gpsi)
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

    def downlink_delta(self, job_id: str, base: int, codec: str) -> bytes | None:
        """The delta body from ``base`` to the job's version, or None: send the full model."""
        model = self.model_for_download(job_id)
        spec = self.specs.get(job_id)
        return model.delta(base, codec, spec.downlink_density if spec is not None else None)

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
        """Take one UE's update (see ``uploads``); its QoS boost ends unless it is chosen again."""
        up = Upload(job_id, round_no, gpsi, headers, body, max_samples)
        rounds = [r for r in (self.active.get(job_id),) if r is not None]
        rounds += [r for (j, _), r in self.closing.items() if j == job_id]
        rnd = find_round(rounds, up)
        closing = (job_id, rnd.round_no) in self.closing
        result = await accept(
            rnd, up, closing=closing, settings=self.settings, store=self.store, metrics=self.metrics
        )
        current = self.active.get(job_id)
        # in realtime a UE chosen again still has its next update to send under the same boost
        keep = (
            rnd.realtime and current is not None and gpsi in current.choices and round_no < current.round_no
        )
        if not keep:
            self._spawn(self.netctl.release(job_id, [gpsi]))
        return result


def _apply(model: GlobalModel, update: dict[str, torch.Tensor]) -> None:
    with torch.no_grad():
        state = model.module.state_dict()
        for name, value in update.items():
            state[name].add_(value)
    model.bump()


def _evaluate(model_name: str, state: dict[str, torch.Tensor], data: ImageSet) -> tuple[float, float]:
    module = build_model(model_name)
    module.load_state_dict(state)
    return evaluate(module, data)


def _save(directory: Path, job_id: str, version: int, wire: bytes) -> Path:
    return GlobalModel.save_bytes(directory, job_id, version, wire)


def _measured(rec: UeRecord, row: Mapping[str, Any], steps: int) -> dict[str, object]:
    """What an update taught about its UE: compute speed (mean and variance per step), loss, how its
    reported energy compares with the prediction, and its overhead beyond the NEF's predictions."""
    out: dict[str, object] = {}
    if rec.compute_s and steps:
        prev = row.get("seconds_per_step")
        # a late or missing-and-then-late compute counts too: it is what the UE takes under this load
        mean, var = step_stats(
            None if prev is None or "step_var_s2" not in row else float(prev),
            float(row.get("step_var_s2", 0.0)),
            rec.compute_s / steps,
        )
        out |= {"seconds_per_step": mean, "step_var_s2": var}
    if rec.train_loss is not None:
        out["last_loss"] = rec.train_loss
    if rec.outcome in ("on_time", "late") and rec.energy_j is not None and rec.predicted_energy_j:
        # what the UE reported against what was predicted for it: calibrates its next predictions
        ratio = float(row.get("energy_ratio", 1.0))
        out["energy_ratio"] = calibrated_ratio(ratio, rec.energy_j, rec.predicted_energy_j)
    known = (rec.arrival_s, rec.compute_s, rec.predicted_dl_s, rec.predicted_ul_s)
    if rec.outcome in ("on_time", "late") and all(x is not None for x in known) and rec.staleness == 0:
        # how far the exchange departed from the NEF's transfer predictions and the measured compute
        resid = rec.arrival_s - rec.compute_s - rec.predicted_dl_s - rec.predicted_ul_s  # type: ignore[operator]
        prev = row.get("overhead_s")
        mean, var = step_stats(
            None if prev is None else float(prev), float(row.get("overhead_var_s2", 0.0)), resid
        )
        out |= {"overhead_s": mean, "overhead_var_s2": var}
    return out
