"""The NEF mock application: 3GPP northbound APIs and the emulator API over one radio model.

``uvicorn nef_mock.app:create_app --factory`` serves it with settings from the environment (``NEF_*``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from flcore.httpmetrics import HttpMetricsMiddleware
from flcore.openapidoc import install_tidy_openapi
from flcore.problem import ProblemError, install_problem_handlers
from nef_mock.auth import TokenService
from nef_mock.metrics import Metrics, api_label
from nef_mock.notifier import Notifier
from nef_mock.radio import RadioModel, load_scenario
from nef_mock.routes import analytics, capif, monitoring, musa, qos, qos_catalogue
from nef_mock.routes.common import NefState, Timebase
from nef_mock.routes.emulator import router as emulator_router
from nef_mock.settings import NefSettings
from nef_mock.store import SubscriptionStore

log = logging.getLogger(__name__)
TICKS: tuple[Callable[[NefState], None], ...] = (monitoring.tick, qos.tick, analytics.tick, musa.tick)


def _tick_all(state: NefState) -> None:
    for tick in TICKS:
        try:
            tick(state)
        except Exception:  # one API's failure must not stop the others' reports
            log.exception("watcher %s failed", tick.__module__)


async def _watch(state: NefState) -> None:
    """Serve every subscription from the radio model, every ``watch_interval_s``.

    The ticks run in a worker thread: forecasts cost CPU, and the event loop also paces UE transfers.
    """
    loop = asyncio.get_running_loop()
    state.notifier.bind(loop)
    while True:
        started = loop.time()
        await asyncio.to_thread(_tick_all, state)
        await asyncio.sleep(max(0.0, state.settings.watch_interval_s - (loop.time() - started)))


def _update_radio_gauges(state: NefState) -> None:
    bands = Counter(link.band or "none" for link in state.radio.links())
    for band in ("FR1", "FR2", "none"):
        state.metrics.radio_ues.labels(band=band).set(bands[band])
    cells = state.radio.cells()
    state.metrics.cell_active_transfers.labels(direction="ul").set(sum(c.active_ul for c in cells))
    state.metrics.cell_active_transfers.labels(direction="dl").set(sum(c.active_dl for c in cells))


def create_app(
    settings: NefSettings | None = None,
    *,
    radio: RadioModel | None = None,
    registry: CollectorRegistry | None = None,
    clock: Callable[[], float] = time.time,
    notify_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """Build the NEF mock. ``clock`` is wall time (timestamps, token expiry); ``notify_transport``
    lets tests deliver notifications in-process."""
    settings = settings or NefSettings()
    radio = radio or RadioModel(load_scenario(settings.scenario))
    metrics = Metrics(registry or CollectorRegistry())
    tokens = TokenService(settings, clock)
    http = httpx.AsyncClient(transport=notify_transport, timeout=settings.notify_timeout_s)
    notifier = Notifier(
        http,
        metrics,
        retries=settings.notify_retries,
        backoff_s=settings.notify_backoff_s,
        backoff_max_s=settings.notify_backoff_max_s,
        timeout_s=settings.notify_timeout_s,
        max_inflight=settings.notify_max_inflight,
    )
    state = NefState(
        settings=settings,
        radio=radio,
        store=SubscriptionStore(settings.max_subscriptions),
        notifier=notifier,
        metrics=metrics,
        tokens=tokens,
        timebase=Timebase(radio, clock),
        qos_catalogue=qos_catalogue.default_catalogue(),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        watcher = asyncio.create_task(_watch(state), name="nef-watcher")
        app.state.ready = True
        try:
            yield
        finally:
            app.state.ready = False
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            await notifier.drain()
            await http.aclose()

    app = FastAPI(
        title="fl5g NEF mock",
        version="0.1.0",
        description="3GPP NEF northbound APIs (TS 29.122, TS 29.522, CAPIF TS 29.222) over an FR2/FR1 "
        "radio model, and the emulator API the UE agents use.",
        lifespan=lifespan,
        separate_input_output_schemas=False,
    )
    app.state.settings = settings
    app.state.tokens = tokens
    app.state.radio = radio
    app.state.nef = state
    app.state.metrics = metrics
    app.state.ready = False
    install_problem_handlers(app)
    app.add_middleware(
        HttpMetricsMiddleware,
        requests=metrics.http_requests,
        duration=metrics.http_duration,
        router=app.router,
        label_of=api_label,
    )
    for router in (monitoring.router, qos.router, analytics.router, musa.router, capif.router):
        app.include_router(router)
    app.include_router(qos_catalogue.router)
    app.include_router(emulator_router)

    install_tidy_openapi(app)

    @app.get("/livez", include_in_schema=False)
    async def livez() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        if not app.state.ready:
            raise ProblemError(503, "the NEF is starting or stopping", cause="SERVICE_UNAVAILABLE")
        return JSONResponse({"status": "ready"})

    @app.get("/metrics", include_in_schema=False)
    async def metrics_endpoint() -> Response:
        _update_radio_gauges(state)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
