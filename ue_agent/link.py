"""The UE's view of its radio link: the NEF emulator paces every transfer to the modelled rate.

A transfer is registered with the emulator for its whole duration, so other UEs in the same cell
see the cell shared; its rate is re-read every ``refresh_s`` while bytes flow.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Literal

import httpx

from flcore.pacing import Pacer

log = logging.getLogger("ue_agent.link")
Direction = Literal["UL", "DL"]


class Link:
    def __init__(self, nef: httpx.AsyncClient | None, gpsi: str, *, refresh_s: float = 0.1) -> None:
        self.nef = nef
        self.gpsi = gpsi
        self.refresh_s = refresh_s

    async def attach(self) -> dict[str, object] | None:
        if self.nef is None:
            return None
        r = await self.nef.put(f"/emulator/v1/ues/{self.gpsi}", json={})
        r.raise_for_status()
        return dict(r.json())

    async def state(self) -> dict[str, object] | None:
        if self.nef is None:
            return None
        r = await self.nef.get(f"/emulator/v1/ues/{self.gpsi}")
        r.raise_for_status()
        return dict(r.json())

    @contextlib.asynccontextmanager
    async def transfer(self, direction: Direction, nbytes: int) -> AsyncIterator[Pacer | None]:
        """A pacer for one transfer (None when no emulator is configured: loopback speed)."""
        if self.nef is None:
            yield None
            return
        r = await self.nef.post(
            "/emulator/v1/transfers", json={"gpsi": self.gpsi, "direction": direction, "bytes": nbytes}
        )
        r.raise_for_status()
        info = r.json()
        tid = info["transferId"]
        pacer = Pacer(float(info["rateBps"]))
        refresher = asyncio.create_task(self._refresh(tid, pacer))
        try:
            yield pacer
        finally:
            refresher.cancel()
            with contextlib.suppress(BaseException):
                await refresher
            with contextlib.suppress(httpx.HTTPError):
                await self.nef.delete(f"/emulator/v1/transfers/{tid}")

    async def _refresh(self, tid: str, pacer: Pacer) -> None:
        assert self.nef is not None
        while True:
            await asyncio.sleep(self.refresh_s)  # a polling period, not a synchronisation
            try:
                r = await self.nef.get(f"/emulator/v1/transfers/{tid}")
                if r.status_code == 200:
                    pacer.rate_bps = float(r.json()["rateBps"])
            except httpx.HTTPError as exc:
                log.debug("rate refresh failed: %s", exc)
