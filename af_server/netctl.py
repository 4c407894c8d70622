"""The AF asking the network for things, and listening: QoS boosts and loss-of-connectivity watches.

- QoS boost (``3gpp-as-session-with-qos``): the AF asks for ``AfSettings.qos_boost_reference``
  (``fl-ul-boost`` in the NEF's catalogue: a GBR uplink of ``qos_boost_min_ul_bps``) over a chosen UE's
  transfer window (the iteration's deadline; two in ``realtime``, where the upload comes one iteration
  after the download), for the chosen UEs whose cell can give it: their predicted uplink rates cover
  the GBR, all boosted UEs of a cell together (a GBR a cell cannot give would take the whole cell from
  everyone else in it). It releases the boost when the UE's update has arrived and the UE is not chosen
  again, or when the iteration collecting it closes. One session per UE and job.
- ``LOSS_OF_CONNECTIVITY`` (``3gpp-monitoring-event``): every chosen UE is watched (one subscription per
  UE, renewed before it expires).
- Notifications. ``LOSS_OF_CONNECTIVITY`` drops the UE from the running iteration (recorded missing,
  no more waiting for it). ``QOS_NOT_GUARANTEED`` after the NEF had guaranteed the boost (the UE left
  the FR2 coverage its selection counted on) drops it too; when the boost was never guaranteed, the
  AF only releases it and keeps the UE (its selection did not count on the boost).
  ``SUCCESSFUL_RESOURCES_ALLOCATION`` and ``QOS_GUARANTEED`` update the grant status in its record.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from af_server.nef_client import NefClient, NefError
from af_server.schemas import UeChoice
from af_server.selection import Candidate
from af_server.settings import AfSettings

log = logging.getLogger("af_server.netctl")

UriMaker = Callable[[str, str], Awaitable[str]]
"""(kind, correlation) -> the signed callback URI to give the NEF."""
WATCH_S = 3600.0
STATUS_OF = {
    "SUCCESSFUL_RESOURCES_ALLOCATION": "granted",
    "QOS_GUARANTEED": "guaranteed",
    "QOS_NOT_GUARANTEED": "not_guaranteed",
    "FAILED_RESOURCES_ALLOCATION": "failed",
    "SESSION_TERMINATION": "terminated",
}


@dataclass
class Boost:
    job_id: str
    gpsi: str
    url: str
    expires: float
    status: dict[str, Any]
    """The ``qos`` entry of the choice's NEF data: updated in place as notifications arrive."""
    guaranteed: bool = False


@dataclass(frozen=True)
class Drop:
    gpsi: str
    event: str
    job_id: str | None


class NetworkControl:
    def __init__(self, settings: AfSettings, nef: NefClient | None, uri: UriMaker) -> None:
        self.settings = settings
        self.nef = nef
        self.uri = uri
        self.boosts: dict[tuple[str, str], Boost] = {}
        self._by_url: dict[str, Boost] = {}
        self._watched: dict[str, tuple[str, float]] = {}  # gpsi -> (subscription URL, expiry)

    # QoS boosts ---------------------------------------------------------------------------------
    async def boost(
        self, job_id: str, choices: Sequence[UeChoice], cands: dict[str, Candidate], window_s: float
    ) -> None:
        """Ask for the boost for the chosen UEs that can use it; the status goes into ``choice.nef``."""
        if self.nef is None:
            return
        ref, gfbr = self.settings.qos_boost_reference, self.settings.qos_boost_min_ul_bps
        todo = []
        now = time.time()
        load: dict[str, float] = {}  # per cell: the share of its uplink time the boosts asked so far take
        for ch in choices:
            c = cands.get(ch.gpsi)
            rate = c.prediction.ul_rate_bps if c is not None and c.prediction is not None else None
            held = self.boosts.get((job_id, ch.gpsi))
            if held is not None and held.expires >= now + window_s:
                ch.nef["qos"] = held.status
                continue
            cell = (c.cell_id if c is not None else None) or ch.gpsi
            need = gfbr / rate if rate else math.inf
            if load.get(cell, 0.0) + need > 1.0:
                mbps = 0 if rate is None else rate / 1e6
                ch.nef["qos"] = {
                    "api": "3gpp-as-session-with-qos",
                    "qosReference": ref,
                    "status": "not_requested",
                    "reason": f"predicted UL {mbps:.1f} Mbps cannot carry the GFBR in its cell",
                }
                continue
            load[cell] = load.get(cell, 0.0) + need
            todo.append(ch)
        if not todo:
            return
        notif = await self.uri("qos", job_id)
        results = await asyncio.gather(
            *(self.nef.request_qos(ch.gpsi, ref, notif, window_s) for ch in todo), return_exceptions=True
        )
        for ch, res in zip(todo, results, strict=True):
            status: dict[str, Any] = {"api": "3gpp-as-session-with-qos", "qosReference": ref}
            if isinstance(res, BaseException):
                if not isinstance(res, NefError):
                    raise res
                status |= {"status": "refused", "reason": str(res)[:200]}
            else:
                old = self.boosts.pop((job_id, ch.gpsi), None)
                if old is not None:
                    await self._release(old)
                status |= {"status": "requested", "durationS": round(window_s, 3)}
                b = Boost(job_id, ch.gpsi, res, now + window_s, status)
                self.boosts[(job_id, ch.gpsi)] = b
                self._by_url[res] = b
            ch.nef["qos"] = status

    async def release(self, job_id: str, gpsis: Iterable[str] | None = None) -> None:
        """Release the job's boosts (of ``gpsis`` only, when given)."""
        keys = [k for k in self.boosts if k[0] == job_id and (gpsis is None or k[1] in set(gpsis))]
        await asyncio.gather(*(self._release(self.boosts.pop(k)) for k in keys))

    async def _release(self, b: Boost) -> None:
        self._by_url.pop(b.url, None)
        b.status["released"] = True
        if self.nef is None:
            return
        try:
            await self.nef.release_qos(b.url)
        except NefError as exc:
            log.warning("could not release the QoS boost of %s: %s", b.gpsi, exc)

    # Loss of connectivity --------------------------------------------------------------------------
    async def watch(self, gpsis: Iterable[str]) -> None:
        """Subscribe LOSS_OF_CONNECTIVITY for the UEs not watched yet (or whose watch ends soon)."""
        if self.nef is None:
            return
        now = time.time()
        todo = [g for g in dict.fromkeys(gpsis) if self._watched.get(g, ("", 0.0))[1] < now + 60]
        if not todo:
            return
        try:
            urls = await self.nef.subscribe_loss_of_connectivity(
                todo, await self.uri("monitoring", "connectivity"), expire_s=WATCH_S
            )
        except NefError as exc:
            log.warning("LOSS_OF_CONNECTIVITY watch failed: %s", exc)
            return
        for g, url in zip(todo, urls, strict=False):
            self._watched[g] = (url, now + WATCH_S)

    async def close(self) -> None:
        for job_id in {k[0] for k in self.boosts}:
            await self.release(job_id)
        if self.nef is not None:
            for url, _ in self._watched.values():
                try:
                    await self.nef.delete_subscription(url)
                except NefError:
                    pass
        self._watched.clear()

    # Notifications --------------------------------------------------------------------------------
    def interpret(self, kind: str, body: Any) -> tuple[list[Drop], list[Boost]]:
        """What a notification means for running iterations: the UEs to drop, the boosts to release."""
        if not isinstance(body, dict):
            return [], []
        if kind == "qos":
            return self._qos(body)
        if kind == "monitoring":
            return self._monitoring(body), []
        return [], []

    async def release_boosts(self, boosts: Iterable[Boost]) -> None:
        for b in boosts:
            if self.boosts.get((b.job_id, b.gpsi)) is b:
                del self.boosts[(b.job_id, b.gpsi)]
                await self._release(b)

    def _qos(self, body: dict[str, Any]) -> tuple[list[Drop], list[Boost]]:
        b = self._by_url.get(str(body.get("transaction", "")))
        if b is None:
            return [], []
        drops, releases = [], []
        for rep in body.get("eventReports") or []:
            event = str(rep.get("event", "")) if isinstance(rep, dict) else ""
            if event in STATUS_OF:
                b.status["status"] = STATUS_OF[event]
            if event in ("QOS_GUARANTEED", "SUCCESSFUL_RESOURCES_ALLOCATION"):
                b.guaranteed = b.guaranteed or event == "QOS_GUARANTEED"
            elif event == "QOS_NOT_GUARANTEED":
                releases.append(b)
                if b.guaranteed:
                    drops.append(Drop(b.gpsi, event, b.job_id))
        return drops, releases

    def _monitoring(self, body: dict[str, Any]) -> list[Drop]:
        drops = []
        for rep in body.get("monitoringEventReports") or []:
            if not isinstance(rep, dict) or rep.get("monitoringType") != "LOSS_OF_CONNECTIVITY":
                continue
            if rep.get("msisdn"):
                gpsi = f"msisdn-{rep['msisdn']}"
            elif rep.get("externalId"):
                gpsi = f"extid-{rep['externalId']}"
            else:
                sub = str(body.get("subscription", ""))
                gpsi = next((g for g, (url, _) in self._watched.items() if url == sub), "")
            if gpsi:
                drops.append(Drop(gpsi, "LOSS_OF_CONNECTIVITY", None))
        return drops
