"""The AF app factory: ``uvicorn af_server.app:create_app --factory``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from af_server.coordinator import Coordinator
from af_server.limits import BodyLimitMiddleware, ByteBudget
from af_server.metrics import Metrics
from af_server.nef_client import NefClient
from af_server.routes import callbacks, health, jobs, ue
from af_server.settings import AfSettings
from af_server.store import Store, connect
from flcore.httpmetrics import HttpMetricsMiddleware
from flcore.openapidoc import install_tidy_openapi
from flcore.problem import install_problem_handlers, problem, problem_response

log = logging.getLogger("af_server")


def create_app(
    settings: AfSettings | None = None,
    *,
    registry: CollectorRegistry | None = None,
    nef_http: httpx.AsyncClient | None = None,
) -> FastAPI:
    settings = settings or AfSettings()
    metrics = Metrics(registry or CollectorRegistry(), settings.latency_buckets_s)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        redis, close_redis = await connect(settings.redis_url, settings.state_dir)
        store = Store(redis, settings.redis_prefix)
        nef = None
        if settings.nef_url:
            nef = NefClient(
                settings.nef_url,
                af_id=settings.af_id,
                client_id=settings.nef_client_id,
                client_secret=settings.nef_client_secret,
                http=nef_http,
                timeout_s=settings.nef_timeout_s,
                observe=metrics.observe_nef,
            )
        coord = Coordinator(settings, store, metrics, nef)
        app.state.store = store
        app.state.coordinator = coord
        app.state.on_nef_notification = coord.on_nef_notification
        runner = asyncio.create_task(coord.run(), name="coordinator")
        try:
            yield
        finally:
            runner.cancel()
            with contextlib.suppress(BaseException):
                await runner
            if nef is not None:
                await nef.aclose()
            await close_redis()

    app = FastAPI(
        title="fl5g AF: federated learning server",
        version="0.1.0",
        description="The FL server as a 3GPP Application Function (TR 22.874 clause 7.1).",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.upload_budget = ByteBudget(settings.upload_buffer_bytes)
    app.state.metrics = metrics
    install_problem_handlers(app)
    install_tidy_openapi(app)

    outage = {"logged_at": -math.inf, "since_logged": 0}

    async def on_redis_down(request: Request, exc: Exception) -> JSONResponse:
        # a Redis outage is transient: callers back off and retry, nothing is half-done
        outage["since_logged"] += 1
        if time.monotonic() - outage["logged_at"] >= 10.0:  # one line per 10 s, not one per request
            log.warning(
                "redis unavailable during %s %s: %s (%d requests answered 503 since the last report)",
                request.method,
                request.url.path,
                exc,
                outage["since_logged"],
            )
            outage["logged_at"], outage["since_logged"] = time.monotonic(), 0
        detail = "the AF's state store is unreachable; retry shortly"
        return problem_response(
            problem(503, detail, cause="REDIS_UNAVAILABLE", instance=request.url.path), {"Retry-After": "1"}
        )

    app.add_exception_handler(RedisConnectionError, on_redis_down)
    app.add_exception_handler(RedisTimeoutError, on_redis_down)
    for r in (ue.router, jobs.router, callbacks.router, health.router):
        app.include_router(r)
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(
        HttpMetricsMiddleware,
        requests=metrics.http_requests,
        duration=metrics.http_duration,
        router=app.router,
    )
    return app
