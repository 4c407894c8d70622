"""Notification delivery: bounded retries with backoff, no retry on a 4xx, outcomes counted."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from prometheus_client import CollectorRegistry

from nef_mock.metrics import Metrics
from nef_mock.notifier import Notifier


def _notifier(
    handler: Callable[[httpx.Request], httpx.Response], retries: int = 3
) -> tuple[Notifier, Metrics]:
    metrics = Metrics(CollectorRegistry())
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return Notifier(http, metrics, retries=retries, backoff_s=0.001, backoff_max_s=0.004), metrics


def _count(metrics: Metrics, outcome: str) -> float:
    return (
        metrics.registry.get_sample_value("nef_notifications_total", {"api": "t", "outcome": outcome}) or 0.0
    )


@pytest.mark.parametrize(
    ("answers", "outcome", "attempts"),
    [
        ([204], "delivered", 1),
        ([503, 500, 204], "delivered", 3),
        ([503, 503, 503, 503, 503], "failed", 4),
        ([404], "rejected", 1),
        ([429, 204], "delivered", 2),
    ],
)
async def test_retries(answers: list[int], outcome: str, attempts: int) -> None:
    # Prepare
    seen: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.content)
        return httpx.Response(answers[len(seen) - 1])

    notifier, metrics = _notifier(handler)
    # Execute
    result = await notifier.deliver("t", "http://af.test/cb", {"x": 1})
    # Assert
    assert result == outcome
    assert len(seen) == attempts
    assert seen[0] == b'{"x":1}'
    assert _count(metrics, outcome) == 1


async def test_connect_errors_are_retried_and_bad_uris_are_not() -> None:
    calls = 0

    def refuse(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        raise httpx.ConnectError("refused", request=request)

    notifier, metrics = _notifier(refuse, retries=2)
    assert await notifier.deliver("t", "http://af.test/cb", {}) == "failed"
    assert calls == 3
    assert await notifier.deliver("t", "http://\x00/cb", {}) == "rejected"
    assert calls == 3


async def test_send_is_bounded_and_drains() -> None:
    notifier, metrics = _notifier(lambda _: httpx.Response(204))
    notifier._max_inflight = 2
    for _ in range(3):
        notifier.send("t", "http://af.test/cb", {})
    assert _count(metrics, "dropped") == 1
    await notifier.drain()
    assert _count(metrics, "delivered") == 2 and notifier.inflight == 0
