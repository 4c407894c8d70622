"""One UE: register, then loop over task, download, local training, encode, upload."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator
from concurrent.futures import Executor
from dataclasses import dataclass, field

import httpx
from flcore.pacing import Pacer
from torch import nn

from flcore import protocol as proto
from flcore.codecs import EncoderState, encode
from flcore.data import ImageSet
from flcore.models import build_model, float_state
from flcore.protocol import Task
from flcore.training import TrainResult, batch_rng, delta, train_local
from flcore.wire import CHUNK, SAFETENSORS, bytes_to_state
from ue_agent.energy import EnergyModel
from ue_agent.link import Link
from ue_agent.metrics import UeMetrics

log = logging.getLogger("ue_agent")


class Retry(Exception):
    """A transient failure: back off and go round the loop again."""


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
    poll_wait_s: float = 10.0
    seconds_per_step: float = 0.02
    token: str | None = None
    model: nn.Module | None = None
    model_name: str | None = None
    etag: str | None = None
    enc_state: EncoderState = field(default_factory=EncoderState)
    # the last task reported; its dispatch time (deadline_at) tells a re-opened iteration apart
    # (a standby coordinator re-runs the iteration that was open when the old one died)
    last_round: tuple[str, int, float] | None = None
    rounds_done: int = 0

    # The loop ---------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        backoff = 0.2
        rng = random.Random(self.gpsi)
        while not stop.is_set():
            try:
                if self.token is None:
                    await self.register()
                task = await self.next_task()
                if task is not None:
                    await self.work(task)
                backoff = 0.2
            except (Retry, httpx.TransportError) as exc:
                log.debug("%s: %s; retrying in %.1fs", self.gpsi, exc, backoff)
                try:
                    await asyncio.wait_for(stop.wait(), backoff * (0.5 + rng.random()))
                except TimeoutError:
                    pass
                backoff = min(backoff * 2, 5.0)

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
            compute_profile={
                "seconds_per_step": self.seconds_per_step,
                "train_power_w": self.energy.train_power_w,
                "ul_power_w": self.energy.ul_power_w,
                "dl_power_w": self.energy.dl_power_w,
            },
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
            return None  # already reported; the AF still lists it only until our upload is recorded
        return task

    async def work(self, task: Task) -> None:
        wall0 = time.monotonic()
        dl_s = await self.download(task)
        base = {k: v.clone() for k, v in float_state(self._model()).items()}
        result = await self.train(task)
        update = delta(float_state(self._model()), base)
        body = await asyncio.get_running_loop().run_in_executor(
            self.executor,
            lambda: encode(
                update,
                codec=task.codec,
                byte_budget=task.byte_budget,
                density=task.density,
                state=self.enc_state,
            ),
        )
        # the AF's version stays the reference: our local weights go back to the global ones
        self._model().load_state_dict(base, strict=False)
        joules = self.energy.iteration_joules(compute_s=result.seconds, ul_s=0.0, dl_s=dl_s)
        await self.upload(task, body, dl_s=dl_s, result=result, joules=joules, wall0=wall0)

    # Steps -----------------------------------------------------------------------------------
    def _model(self) -> nn.Module:
        assert self.model is not None
        return self.model

    async def download(self, task: Task) -> float:
        if self.model is None or self.model_name != task.model:
            self.model, self.model_name, self.etag = build_model(task.model), task.model, None
        headers = self._auth()
        if self.etag:
            headers["If-None-Match"] = self.etag
        t0 = time.monotonic()
        async with self.af.stream("GET", task.model_url, headers=headers) as r:
            if r.status_code == 304:
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
            etag = r.headers.get("etag")
        state = bytes_to_state(buf)
        self._model().load_state_dict(state)
        self.etag = etag
        seconds = time.monotonic() - t0
        self.metrics.transfer.labels("dl").observe(seconds)
        self.metrics.transfer_bytes.labels("dl").inc(size)
        return seconds

    async def train(self, task: Task) -> TrainResult:
        model = self._model()
        rng = batch_rng(task.seed, task.round, self.index)
        result = await asyncio.get_running_loop().run_in_executor(
            self.executor,
            lambda: train_local(
                model, self.data, steps=task.local_steps, batch_size=task.batch_size, lr=task.lr, rng=rng
            ),
        )
        self.seconds_per_step = result.seconds_per_step
        for _ in range(min(result.steps, 50)):
            self.metrics.train_step.observe(result.seconds_per_step)
        return result

    async def upload(
        self, task: Task, body: bytes, *, dl_s: float, result: TrainResult, joules: float, wall0: float
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
                proto.COMPUTE_SECONDS: f"{result.seconds:.6f}",
                proto.ENERGY_JOULES: f"{ul_joules_estimate:.4f}",
            }
            r = await self.af.post(task.upload_url, content=_paced(body, pacer), headers=headers)
        ul_s = time.monotonic() - t0
        total_j = self.energy.iteration_joules(
            compute_s=result.seconds, ul_s=ul_s, dl_s=dl_s, wall_s=time.monotonic() - wall0
        )
        self.metrics.energy.labels("total").inc(total_j)
        self.metrics.transfer.labels("ul").observe(ul_s)
        self.metrics.transfer_bytes.labels("ul").inc(len(body))
        self.last_round = (task.job_id, task.round, task.deadline_at)
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


async def _paced(body: bytes, pacer: Pacer | None) -> AsyncIterator[bytes]:
    mv = memoryview(body)
    step = CHUNK if pacer is None else PACED_CHUNK
    for i in range(0, len(mv), step):
        piece = mv[i : i + step]
        if pacer is not None:
            await pacer.wait(len(piece))
        yield piece  # type: ignore[misc]  # a memoryview: httpx sends it without a copy


def measure_seconds_per_step(data: ImageSet, model_name: str = "smallcnn", steps: int = 5) -> float:
    """A quick local benchmark for the compute profile a UE registers with."""
    model = build_model(model_name, seed=0)
    train_local(model, data, steps=2, batch_size=32, lr=0.01, rng=batch_rng(0, 0, 0))
    r = train_local(model, data, steps=steps, batch_size=32, lr=0.01, rng=batch_rng(0, 1, 0))
    return r.seconds_per_step
