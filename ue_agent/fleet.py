"""Many UEs in one process (fleet mode): one dataset copy, one HTTP pool, a bounded training pool.

Each UE trains with one torch thread; ``train_workers`` threads train at once (default: the CPU
cores), the rest wait their turn, so 200 UEs on 2 cores share the machine instead of thrashing it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections import Counter
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import torch
from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from flcore.data import dirichlet_partition, load_fashion_mnist
from flcore.httpmetrics import HttpMetricsMiddleware
from flcore.problem import ProblemError, install_problem_handlers
from ue_agent.agent import UeAgent, measure_seconds_per_step
from ue_agent.failover import FailoverTransport
from ue_agent.link import Link
from ue_agent.metrics import UeMetrics
from ue_agent.settings import UeSettings, gpsi_for

log = logging.getLogger("ue_agent.fleet")


class Fleet:
    def __init__(self, settings: UeSettings, metrics: UeMetrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.agents: list[UeAgent] = []
        self.stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._clients: list[httpx.AsyncClient] = []
        self._executor: ThreadPoolExecutor | None = None

    async def start(self) -> None:
        await self.build()
        self._tasks = [asyncio.create_task(a.run(self.stop), name=a.gpsi) for a in self.agents]

    async def build(self) -> None:
        """The agents, each with its data partition and its device's energy model; none running yet."""
        s = self.settings
        torch.set_num_threads(1)
        workers = s.train_workers or os.cpu_count() or 1
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="train")
        train = await asyncio.to_thread(load_fashion_mnist, "train")
        parts = dirichlet_partition(train.labels, s.partitions or s.count, s.alpha, s.data_seed)
        limits = httpx.Limits(
            max_connections=max(20, 2 * s.count), max_keepalive_connections=max(20, s.count)
        )
        timeout = httpx.Timeout(30.0, connect=5.0)
        urls = [s.af_url, *(u for u in s.af_urls if u != s.af_url)]
        transport = FailoverTransport(urls, httpx.AsyncHTTPTransport(limits=limits))
        af = httpx.AsyncClient(base_url=s.af_url, transport=transport, timeout=timeout)
        nef = (
            httpx.AsyncClient(base_url=s.nef_url, limits=limits, timeout=timeout)
            if (s.nef_url and s.pace)
            else None
        )
        self._clients = [c for c in (af, nef) if c is not None]
        first = train.subset(parts[s.first_index % len(parts)])
        step_s = await asyncio.get_running_loop().run_in_executor(
            self._executor, measure_seconds_per_step, first
        )
        for i in range(s.count):
            index = s.first_index + i
            gpsi = gpsi_for(index)
            device, energy = s.device(index)
            self.agents.append(
                UeAgent(
                    index=index,
                    gpsi=gpsi,
                    data=train.subset(parts[index % len(parts)]),
                    af=af,
                    link=Link(nef, gpsi, refresh_s=s.rate_refresh_s),
                    executor=self._executor,
                    metrics=self.metrics,
                    energy=energy,
                    device=device,
                    enrollment_key=s.enrollment_key,
                    poll_wait_s=s.poll_wait_s,
                    seconds_per_step=step_s,
                )
            )
        self.metrics.ues.set(len(self.agents))
        devices = Counter(a.device or "settings" for a in self.agents)
        log.info(
            "%d UEs (%s..), %d training workers, devices %s",
            s.count, self.agents[0].gpsi, workers, dict(sorted(devices.items())),
        )

    async def close(self) -> None:
        self.stop.set()
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(BaseException):
                await t
        for c in self._clients:
            await c.aclose()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)


def create_app(settings: UeSettings | None = None, *, registry: CollectorRegistry | None = None) -> FastAPI:
    settings = settings or UeSettings()
    metrics = UeMetrics(registry or CollectorRegistry())

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        fleet = Fleet(settings, metrics)
        app.state.fleet = fleet
        await fleet.start()
        try:
            yield
        finally:
            await fleet.close()

    app = FastAPI(title="fl5g UE agent", version="0.1.0", lifespan=lifespan)
    install_problem_handlers(app)

    @app.get("/livez")
    async def livez() -> dict[str, str]:
        return {"status": "alive"}

    @app.get("/readyz")
    async def readyz() -> dict[str, object]:
        fleet: Fleet = app.state.fleet
        registered = sum(1 for a in fleet.agents if a.token)
        if not fleet.agents or registered == 0:
            raise ProblemError(
                503, "no UE of this process is registered with the AF yet", cause="NOT_REGISTERED"
            )
        return {"status": "ready", "ues": len(fleet.agents), "registered": registered}

    @app.get("/status")
    async def status() -> dict[str, object]:
        fleet: Fleet = app.state.fleet
        return {
            "ues": [
                {
                    "gpsi": a.gpsi,
                    "registered": a.token is not None,
                    "device": a.device,
                    "rounds": a.rounds_done,
                    "samples": len(a.data),
                }
                for a in fleet.agents
            ]
        }

    @app.get("/metrics", include_in_schema=False)
    async def prom() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(
        HttpMetricsMiddleware,
        requests=metrics.http_requests,
        duration=metrics.http_duration,
        router=app.router,
    )
    return app
