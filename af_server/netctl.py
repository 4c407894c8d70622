"""The AF asking the network for things, and listening: QoS boosts and loss-of-connectivity watches.

- QoS boost (``3gpp-as-session-with-qos``): for each chosen UE whose predicted uplink rate reaches the
  GFBR of ``AfSettings.qos_boost_reference`` (``fl-ul-boost`` in the NEF's catalogue: a GBR the cell
  could not give a slower UE, which the NEF would report ``QOS_NOT_GUARANTEED`` at once) the AF asks for
  the boost over the UE's transfer window (the iteration's deadline; two in ``realtime``, where the
  upload comes one iteration after the download) and releases it when the UE's update has arrived and
  the UE is not chosen again, or when the iteration it was due in closes. One session per UE and job.
- ``LOSS_OF_CONNECTIVITY`` (``3gpp-monitoring-event``): every chosen UE is watched (one subscription per
  UE, renewed before it expires).
- Notifications: ``QOS_NOT_GUARANTEED`` for a boosted UE and ``LOSS_OF_CONNECTIVITY`` drop the UE from
  the running iteration (the caller records it missing and stops waiting for it); ``QOS_GUARANTEED``
  and ``SUCCESSFUL_RESOURCES_ALLOCATION`` update the grant status kept in the UE's record.
"""

from __future__ import annotations

import asyncio
import logging
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
DROP_EVENTS = ("QOS_NOT_GUARANTEED", "LOSS_OF_CONNECTIVITY")
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
        for ch in choices:
            c = cands.get(ch.gpsi)
            rate = c.prediction.ul_rate_bps if c is not None and c.prediction is not None else None
            held = self.boosts.get((job_id, ch.gpsi))
            if held is not None and held.expires >= now + window_s:
                ch.nef["qos"] = held.status
                continue
            if rate is None or rate < gfbr:
                ch.nef["qos"] = {
                    "api": "3gpp-as-session-with-qos",
                    "qosReference": ref,
                    "status": "not_requested",
                    "reason": f"predicted UL {0 if rate is None else rate / 1e6:.1f} Mbps is below the GFBR",
                }
                continue
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
    def interpret(self, kind: str, body: Any) -> list[Drop]:
        """What a notification means for running iterations: the UEs to drop."""
        if not isinstance(body, dict):
            return []
        if kind == "qos":
            return self._qos(body)
        if kind == "monitoring":
            return self._monitoring(body)
        return []

    def _qos(self, body: dict[str, Any]) -> list[Drop]:
        b = self._by_url.get(str(body.get("transaction", "")))
        if b is None:
            return []
        drops = []
        for rep in body.get("eventReports") or []:
            event = str(rep.get("event", "")) if isinstance(rep, dict) else ""
            if event in STATUS_OF:
                b.status["status"] = STATUS_OF[event]
            if event in DROP_EVENTS:
                drops.append(Drop(b.gpsi, event, b.job_id))
        return drops

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
