"""Fixtures for the NEF mock: the app in-process with a fake clock, and an AF callback receiver."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Callable, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from nef_mock.app import create_app
from nef_mock.radio import RadioModel, load_scenario
from nef_mock.routes.common import NefState
from nef_mock.settings import NefSettings
from tests.servers import read_request, respond

AF = "fl5g-af"
UE = "msisdn-910000000000"  # UE 0 of the default scenario's population
MSISDN = UE.removeprefix("msisdn-")


class FakeClock:
    """Wall and monotonic time that tests move by hand (the radio model follows it)."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self.t0 = start
        self.t = start

    def wall(self) -> float:
        return self.t

    def monotonic(self) -> float:
        return self.t - self.t0

    def advance(self, seconds: float) -> None:
        self.t += seconds


class Receiver:
    """An AF callback endpoint (raw ASGI): records every POST body, answers ``status``."""

    def __init__(self, status: int = 204, on_body: Callable[[str, Any], None] | None = None) -> None:
        self.status = status
        self.on_body = on_body
        self.received: list[tuple[str, Any]] = []
        self._cond = threading.Condition()

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        body = await read_request(scope, receive, send)
        if body is None:
            return
        parsed = json.loads(body or b"null")
        with self._cond:
            self.received.append((scope["path"], parsed))
            self._cond.notify_all()
        if self.on_body is not None:
            self.on_body(scope["path"], parsed)
        await respond(send, self.status)

    def _wait(self, pred: Callable[[str, Any], bool], count: int, timeout: float) -> list[Any]:
        def hits() -> list[Any]:
            return [b for p, b in self.received if pred(p, b)]

        with self._cond:
            self._cond.wait_for(lambda: len(hits()) >= count, timeout=timeout)
            found = hits()
        assert len(found) >= count, f"{len(found)}/{count} notifications in {timeout}s: {self.received}"
        return found

    async def wait(
        self, pred: Callable[[str, Any], bool], *, count: int = 1, timeout: float = 5.0
    ) -> list[Any]:
        """The bodies matching ``pred`` once ``count`` of them arrived (bounded by ``timeout``)."""
        return await asyncio.to_thread(self._wait, pred, count, timeout)

    def at(self, path: str) -> list[Any]:
        with self._cond:
            return [b for p, b in self.received if p == path]


@dataclass
class Nef:
    app: FastAPI
    client: httpx.AsyncClient
    receiver: Receiver
    clock: FakeClock | None

    @property
    def state(self) -> NefState:
        state: NefState = self.app.state.nef
        return state

    def cb(self, name: str) -> str:
        return f"http://af.test/cb/{name}"


def dev_settings(**overrides: Any) -> NefSettings:
    values: dict[str, Any] = {
        "dev_mode": True,
        "auth_disabled": True,
        "watch_interval_s": 0.05,
        "analytics_eval_interval_s": 0.2,
        "notify_backoff_s": 0.01,
        "notify_retries": 2,
    }
    return NefSettings(**(values | overrides))


@asynccontextmanager
async def running_nef(
    *, fake_clock: bool = False, receiver: Receiver | None = None, **overrides: Any
) -> AsyncIterator[Nef]:
    """The NEF app with its lifespan running, reached in-process; notifications go to a Receiver."""
    receiver = receiver or Receiver()
    clock = FakeClock() if fake_clock else None
    radio = RadioModel(load_scenario(), clock=clock.monotonic if clock else time.monotonic)
    app = create_app(
        dev_settings(**overrides),
        radio=radio,
        registry=CollectorRegistry(),
        clock=clock.wall if clock else time.time,
        notify_transport=httpx.ASGITransport(app=receiver),
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://nef.test") as client:
            yield Nef(app, client, receiver, clock)


@pytest.fixture
async def nef() -> AsyncIterator[Nef]:
    async with running_nef() as env:
        yield env


@pytest.fixture
async def nef_fake_clock() -> AsyncIterator[Nef]:
    async with running_nef(fake_clock=True) as env:
        yield env
