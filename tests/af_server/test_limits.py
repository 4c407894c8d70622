"""The upload byte budget: bodies in flight never exceed it, waiters are served in order, a waiter
that goes away frees its place; oversized JSON bodies are refused (see test_auth for the HTTP side)."""

from __future__ import annotations

import asyncio

from af_server.limits import ByteBudget


async def _hold(budget: ByteBudget, n: int, log: list[str], name: str, release: asyncio.Event) -> None:
    async with budget.hold(n):
        log.append(f"+{name}")
        assert budget.used <= budget.capacity
        await release.wait()
    log.append(f"-{name}")


async def _settle() -> None:
    for _ in range(5):  # let the woken tasks run (no time passes)
        await asyncio.sleep(0)


async def test_holders_wait_in_order_and_never_pass_the_capacity():
    budget = ByteBudget(100)
    log: list[str] = []
    gates = {name: asyncio.Event() for name in "abcd"}
    tasks = [
        asyncio.create_task(_hold(budget, n, log, name, gates[name]))
        for name, n in (("a", 60), ("b", 60), ("c", 10), ("d", 500))
    ]
    await _settle()
    # b does not fit beside a; c would, but does not overtake b
    assert log == ["+a"] and budget.used == 60 and budget.waiting == 3
    gates["a"].set()
    await _settle()
    assert log == ["+a", "-a", "+b", "+c"] and budget.used == 70
    gates["b"].set()
    gates["c"].set()
    await _settle()
    # a body larger than the whole budget is let through alone, counted as the whole budget
    assert log[-1] == "+d" and budget.used == 100
    gates["d"].set()
    await asyncio.gather(*tasks)
    assert budget.used == 0 and budget.peak == 100


async def test_a_waiter_that_goes_away_frees_its_place():
    budget = ByteBudget(100)
    log: list[str] = []
    hold_a, never = asyncio.Event(), asyncio.Event()
    a = asyncio.create_task(_hold(budget, 80, log, "a", hold_a))
    b = asyncio.create_task(_hold(budget, 80, log, "b", never))
    c_gate = asyncio.Event()
    c = asyncio.create_task(_hold(budget, 20, log, "c", c_gate))
    await _settle()
    assert log == ["+a"] and budget.waiting == 2
    b.cancel()  # the UE behind a disconnects while it waits
    await _settle()
    assert log == ["+a", "+c"] and budget.used == 100 and budget.waiting == 0
    hold_a.set()
    c_gate.set()
    await asyncio.gather(a, c)
    assert budget.used == 0
