"""One UE: register, then loop over task, download, local training, encode, upload.

``sync`` tasks run in order: download, train, encode, upload. ``realtime`` tasks (TR 22.874 Figure
7.x.1-2) overlap: the task of iteration n downloads version n (a delta from the held copy when the
job asks for one) while the training on version n - 1 still runs in the executor; as soon as that
training ends, training on version n starts in the executor and the agent goes back to polling for
the next task, while the update of n - 1 is encoded (in a worker thread, not the training executor)
and uploaded. So the compute never waits for a transfer unless a model is late.

Each upload says how long the UE computed (``Fl5g-Compute-Seconds``: the wall time of the training
call, waiting for a core included, which is what the AF must plan with), its mean training loss
(``Fl5g-Train-Loss``, for utility-based selection) and the version it trained on
(``Fl5g-Base-Version``). With codec ``topk`` the encoder picks the density that fits the task's byte
budget.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator
from concurrent.futures import Executor
from dataclasses import asdict, dataclass, field
from typing import cast

import httpx
import torch
from torch import nn

from flcore import protocol as proto
from flcore.codecs import CodecError, EncoderState, encode
from flcore.data import ImageSet
from flcore.energy import EnergyModel
from flcore.models import build_model, float_state
from flcore.pacing import paced_chunks
from flcore.protocol import Task
from flcore.training import TrainResult, batch_rng, delta, train_local
from flcore.wire import CHUNK, SAFETENSORS
from ue_agent.held import HeldModel
from ue_agent.link import Link
from ue_agent.metrics import UeMetrics

log = logging.getLogger("ue_agent")


class Retry(Exception):
    """A transient failure: back off and go round the loop again."""


@dataclass
class Trained:
    result: TrainResult
    update: dict[str, torch.Tensor]
    compute_s: float
    base_version: int


@dataclass
class UeAgent:
    index: int
    gpsi: str
    data: ImageSet
    af: httpx.AsyncClient
    link: Link
    executor: Executor
    metrics: UeMetrics
    energy: EnergyModel
    enrollment_key: str
    device: str | None = None  # its class in UE_DEVICE_MIX (None: the UE_*_POWER_W settings)
    poll_wait_s: float = 10.0
    seconds_per_step: float = 0.02
    token: str | None = None
    model: nn.Module | None = None
    model_name: str | None = None
    held: HeldModel = field(default_factory=HeldModel)
    enc_state: EncoderState = field(default_factory=EncoderState)
    enc_job: str | None = None
    # the last task taken; its dispatch time (deadline_at) tells a re-opened iteration apart
    # (a standby coordinator re-runs the iteration that was open when the old one died)
    last_round: tuple[str, int, float] | None = None
    rounds_done: int = 0
    compute_wall_s: float = 0.0
    train_seconds_total: float = 0.0
    pipeline: asyncio.Task[None] | None = None
    trained: asyncio.Event | None = None

    # The loop ---------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        backoff = 0.2
        rng = random.Random(self.gpsi)
        try:
            while not stop.is_set():
                try:
                    if self.token is None:
                        await self.register()
                    task = await self.next_task()
                    if task is not None:
                        self.last_round = (task.job_id, task.round, task.deadline_at)
                        if task.timeline == "realtime":
                            await self.work_realtime(task)
                        else:
                            await self.settle()
                            await self.work(task)
                    backoff = 0.2
                except (Retry, httpx.TransportError) as exc:
                    log.debug("%s: %s; retrying in %.1fs", self.gpsi, exc, backoff)
                    try:
                        await asyncio.wait_for(stop.wait(), backoff * (0.5 + rng.random()))
                    except TimeoutError:
                        pass
                    backoff = min(backoff * 2, 5.0)
        finally:
            if self.pipeline is not None:
                self.pipeline.cancel()
                with contextlib.suppress(BaseException):
                    await self.pipeline

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def _check(self, r: httpx.Response) -> None:
        if r.status_code == 401:
            self.token = None
            raise Retry("token refused; registering again")
        if r.status_code in (502, 503, 504) or r.status_code >= 500:
            raise Retry(f"AF answered {r.status_code}")

    async def register(self) -> None:
        await self.link.attach()
        reg = proto.UeRegistration(
            gpsi=self.gpsi,
            num_samples=len(self.data),
            compute_profile={"seconds_per_step": self.seconds_per_step},
            energy_profile=proto.EnergyProfile(**asdict(self.energy)),
        )
        r = await self.af.post(
            "/af/v1/ues", json=reg.model_dump(), headers={proto.ENROLLMENT_KEY: self.enrollment_key}
        )
        self._check(r)
        if r.status_code != 201:
            raise Retry(f"registration refused: {r.status_code} {r.text[:200]}")
        self.token = proto.UeToken.model_validate(r.json()).token
        self.metrics.registered.inc()

    async def next_task(self) -> Task | None:
        r = await self.af.get(
            "/af/v1/ue/task",
            params={"wait": self.poll_wait_s},
            headers=self._auth(),
            timeout=self.poll_wait_s + 10,
        )
        self._check(r)
        if r.status_code == 204:
            return None
        if r.status_code != 200:
            raise Retry(f"task: {r.status_code} {r.text[:200]}")
        task = Task.model_validate(r.json())
        if self.last_round == (task.job_id, task.round, task.deadline_at):
            return None  # already taken
        return task

    # sync: one task after the other -----------------------------------------------------------------
    async def work(self, task: Task) -> None:
        wall0 = time.monotonic()
        dl_s = await self.download(task)
        trained = await self.train(task)
        await self.report(task, trained, dl_s=dl_s, wall0=wall0)

    async def settle(self) -> None:
        """Let a realtime pipeline that is still running finish (before a sync task, or at the end)."""
        if self.pipeline is not None:
            with contextlib.suppress(Exception):
                await self.pipeline
            self.pipeline = None

    # realtime: the TR 22.874 pipeline ----------------------------------------------------------------
    async def work_realtime(self, task: Task) -> None:
        """Download this iteration's version while the previous training ends, then start training on
        it in the background and return (to poll for the next task)."""
        wall0 = time.monotonic()
        download = asyncio.create_task(self.download(task))
        try:
            if self.trained is not None:
                await self.trained.wait()  # the running training ends; its upload goes on by itself
            dl_s = await download
        finally:
            if not download.done():
                download.cancel()
                with contextlib.suppress(BaseException):
                    await download
        trained = asyncio.Event()
        self.trained = trained
        self.pipeline = asyncio.create_task(
            self._pipeline(task, dl_s, wall0, trained), name=f"{self.gpsi}-rt"
        )

    async def _pipeline(self, task: Task, dl_s: float, wall0: float, done: asyncio.Event) -> None:
        try:
            try:
                trained = await self.train(task)
            finally:
                done.set()
            await self.report(task, trained, dl_s=dl_s, wall0=wall0)
        except (Retry, httpx.HTTPError) as exc:
            log.info("%s: realtime iteration %d not reported: %s", self.gpsi, task.round, exc)

    # Steps -----------------------------------------------------------------------------------
    def _model(self, name: str) -> nn.Module:
        if self.model is None or self.model_name != name:
            self.model, self.model_name = build_model(name), name
        return self.model

    async def download(self, task: Task) -> float:
        if self.held.current(task):
            return 0.0
        if self.held.job_id not in (None, task.job_id):
            self.held = HeldModel()
        params, extra = self.held.request(task)
        t0 = time.monotonic()
        async with self.af.stream("GET", task.model_url, params=params, headers=self._auth() | extra) as r:
            if r.status_code == 304:
                self.held.not_modified(task)
                return 0.0
            if r.status_code != 200:
                await r.aread()
                self._check(r)
                raise Retry(f"model download: {r.status_code}")
            size = int(r.headers.get("content-length", "0"))
            buf = bytearray(size)
            view = memoryview(buf)
            pos = 0
            async with self.link.transfer("DL", size) as pacer:
                async for piece in r.aiter_raw(CHUNK if pacer is None else PACED_CHUNK):
                    if pacer is not None:
                        await pacer.wait(len(piece))
                    view[pos : pos + len(piece)] = piece
                    pos += len(piece)
            if pos != size:
                raise Retry(f"model download ended after {pos} of {size} bytes")
            headers = r.headers
        await asyncio.to_thread(self.held.take, task, buf, headers)
        seconds = time.monotonic() - t0
        self.metrics.transfer.labels("dl").observe(seconds)
        self.metrics.transfer_bytes.labels("dl").inc(size)
        return seconds

    async def train(self, task: Task) -> Trained:
        """Train on the held version in the executor; the update is the trained weights less it."""
        assert self.held.state is not None and self.held.version is not None
        model = self._model(task.model)
        held, version = self.held.state, self.held.version
        rng = batch_rng(task.seed, task.round, self.index)

        def run() -> tuple[TrainResult, dict[str, torch.Tensor]]:
            model.load_state_dict(held)
            base = {k: v.clone() for k, v in float_state(model).items()}
            result = train_local(
                model, self.data, steps=task.local_steps, batch_size=task.batch_size, lr=task.lr, rng=rng
            )
            return result, delta(float_state(model), base)

        t0 = time.monotonic()
        result, update = await asyncio.get_running_loop().run_in_executor(self.executor, run)
        # what the AF plans with is the time this UE needs per iteration here, waiting for a core included
        self.compute_wall_s = time.monotonic() - t0
        self.train_seconds_total += result.seconds
        self.seconds_per_step = self.compute_wall_s / max(result.steps, 1)
        for _ in range(min(result.steps, 50)):
            self.metrics.train_step.observe(result.seconds_per_step)
        return Trained(result, update, self.compute_wall_s, version)

    async def report(self, task: Task, trained: Trained, *, dl_s: float, wall0: float) -> str | None:
        """Encode within the byte budget (in a worker thread: the executor keeps training) and upload."""
        if self.enc_job != task.job_id:
            # topk's residuals and warm-up belong to one job's model: a new job starts afresh
            self.enc_state, self.enc_job = EncoderState(), task.job_id
        try:
            body = await asyncio.to_thread(
                encode,
                trained.update,
                codec=task.codec,
                byte_budget=task.byte_budget,
                density=task.density,
                state=self.enc_state,
                **({"values": task.topk_values} if task.codec == "topk" else {}),
            )
        except CodecError as exc:
            log.warning("%s: iteration %d: no update fits the budget: %s", self.gpsi, task.round, exc)
            self.metrics.updates.labels("failed").inc()
            return None
        joules = self.energy.iteration_joules(compute_s=trained.result.seconds, ul_s=0.0, dl_s=dl_s)
        return await self.upload(task, body, dl_s=dl_s, trained=trained, joules=joules, wall0=wall0)

    async def upload(
        self, task: Task, body: bytes, *, dl_s: float, trained: Trained, joules: float, wall0: float
    ) -> str:
        t0 = time.monotonic()
        async with self.link.transfer("UL", len(body)) as pacer:
            # the upload's radio energy is not known before it ends: estimate it from the granted rate
            ul_est = len(body) * 8 / pacer.rate_bps if pacer is not None and pacer.rate_bps > 0 else 0.0
            ul_joules_estimate = joules + self.energy.ul_power_w * ul_est
            headers = {
                **self._auth(),
                "Content-Type": SAFETENSORS,
                "Content-Length": str(len(body)),
                proto.NUM_SAMPLES: str(len(self.data)),
                proto.DOWNLOAD_SECONDS: f"{dl_s:.6f}",
                proto.COMPUTE_SECONDS: f"{trained.compute_s:.6f}",
                proto.TRAIN_LOSS: f"{trained.result.loss:.6f}",
                proto.BASE_VERSION: str(trained.base_version),
                proto.ENERGY_JOULES: f"{ul_joules_estimate:.4f}",
            }
            # memoryview slices: httpx sends them without a copy (its annotation says bytes)
            chunks = cast(AsyncIterator[bytes], paced_chunks(body, pacer=pacer))
            r = await self.af.post(task.upload_url, content=chunks, headers=headers)
        ul_s = time.monotonic() - t0
        total_j = self.energy.iteration_joules(
            compute_s=trained.result.seconds, ul_s=ul_s, dl_s=dl_s, wall_s=time.monotonic() - wall0
        )
        self.metrics.energy.labels("total").inc(total_j)
        self.metrics.transfer.labels("ul").observe(ul_s)
        self.metrics.transfer_bytes.labels("ul").inc(len(body))
        if r.status_code == 200:
            outcome = str(r.json().get("outcome", "on_time"))
        elif r.status_code == 400:
            outcome = "rejected"
            log.warning("%s: update rejected: %s", self.gpsi, r.text[:300])
        else:
            outcome = "failed"
            self._check(r)
            log.info(
                "%s: upload for round %d answered %d: %s", self.gpsi, task.round, r.status_code, r.text[:200]
            )
        self.metrics.updates.labels(outcome).inc()
        self.rounds_done += 1
        return outcome


PACED_CHUNK = 64 * 1024  # small enough that pacing at tens of Mbit/s stays smooth


def measure_seconds_per_step(data: ImageSet, model_name: str = "smallcnn", steps: int = 5) -> float:
    """A quick local benchmark for the compute profile a UE registers with."""
    model = build_model(model_name, seed=0)
    train_local(model, data, steps=2, batch_size=32, lr=0.01, rng=batch_rng(0, 0, 0))
    r = train_local(model, data, steps=steps, batch_size=32, lr=0.01, rng=batch_rng(0, 1, 0))
    return r.seconds_per_step
