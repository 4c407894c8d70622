"""The AF's client of the NEF's 3GPP northbound APIs: plain HTTP/JSON, nothing imported from nef_mock.

It speaks ``3gpp-analyticsexposure`` (E2E_DATA_VOL_TRANS_TIME, QOS_SUSTAINABILITY, UE_MOBILITY),
``3gpp-musa``, ``3gpp-monitoring-event`` and ``3gpp-as-session-with-qos``, and fetches CAPIF client
credentials tokens itself (cached; fetched again on expiry or on a 401). httpx exceptions are
translated here and only here: ``NefError`` > ``NefUnavailable`` / ``NefTimeout`` / ``NefRejected``.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

ANALYTICS = "3gpp-analyticsexposure"
MUSA = "3gpp-musa"
MONITORING = "3gpp-monitoring-event"
QOS = "3gpp-as-session-with-qos"
CAPIF = "capif-security"
NEVER_MS = 2**31 - 1  # the NEF's "not within the window" (avgTransTime* is an unsigned integer of ms)
PER_UE_LIMIT = 4  # up to this many UEs, one fetch each; beyond, one any-UE fetch filtered here
DEFAULT_QOS_EVENTS = ("SUCCESSFUL_RESOURCES_ALLOCATION", "QOS_GUARANTEED", "QOS_NOT_GUARANTEED")


class NefError(Exception):
    """Talking to the NEF failed."""


class NefUnavailable(NefError):
    """The NEF could not be reached, or answered 5xx."""

    def __init__(
        self, message: str, status: int | None = None, problem: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.problem = problem or {}


class NefTimeout(NefError):
    """The NEF did not answer in time."""


class NefRejected(NefError):
    """The NEF refused the request (4xx); ``problem`` is its ProblemDetails (or AccessTokenErr)."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        detail = problem.get("detail") or problem.get("error_description") or problem.get("error") or ""
        super().__init__(f"NEF answered {status}: {detail}")
        self.status = status
        self.problem = problem

    @property
    def cause(self) -> str | None:
        cause = self.problem.get("cause") or self.problem.get("error")
        return str(cause) if cause is not None else None


@dataclass(frozen=True)
class TransferPrediction:
    """Predicted transfer times of one UE (seconds; inf when the NEF expects no transfer in the window).
    ``confidence`` is the NEF's 0–100 as a fraction, None when it gave none."""

    gpsi: str
    ul_mean_s: float
    ul_var_s2: float
    dl_mean_s: float
    dl_var_s2: float
    confidence: float | None


@dataclass(frozen=True)
class UeLocation:
    """The UE's serving cell (NCGI) as the NEF reported it; ``band`` is not part of the 3GPP report."""

    gpsi: str
    ncgi_cell_id: str
    tac: str | None = None
    plmn_id: dict[str, str] | None = None
    band: str | None = None
    event_time: str | None = None


@dataclass(frozen=True)
class SustainabilityReport:
    """A cell and time slot in which the RAN UE throughput falls below ``threshold``."""

    cell_id: str
    start: str
    end: str
    threshold: str
    confidence: float | None


@dataclass(frozen=True)
class CellShare:
    """Share of the window a UE is expected in a cell (UE_MOBILITY)."""

    cell_id: str
    ratio: float | None


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _seconds(ms: Any) -> float:
    return math.inf if ms is None or ms >= NEVER_MS else float(ms) / 1000.0


def _seconds2(ms2: Any) -> float:
    return math.inf if ms2 is None or ms2 >= float(NEVER_MS) ** 2 else float(ms2) / 1e6


def _ue_identity(gpsi: str) -> dict[str, str]:
    """MonitoringEvent names the UE by ``msisdn`` or ``externalId``, not by GPSI."""
    if gpsi.startswith("msisdn-"):
        return {"msisdn": gpsi.removeprefix("msisdn-")}
    if gpsi.startswith("extid-"):
        return {"externalId": gpsi.removeprefix("extid-")}
    raise ValueError(f"{gpsi!r} is not a GPSI (msisdn-... or extid-...)")


def _cell_of(area: dict[str, Any]) -> str | None:
    ncgis = (area.get("nwAreaInfo") or {}).get("ncgis") or []
    return str(ncgis[0]["nrCellId"]) if ncgis else None


class NefClient:
    """One AF's view of one NEF."""

    def __init__(
        self,
        base_url: str,
        *,
        af_id: str,
        client_id: str | None,
        client_secret: str | None,
        http: httpx.AsyncClient | None = None,
        timeout_s: float = 2.0,
        observe: Callable[[str, str, float], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.af_id = af_id
        self._client_id = client_id
        self._client_secret = client_secret
        self._own_http = http is None
        self._http = http or httpx.AsyncClient(timeout=timeout_s)
        self._timeout_s = timeout_s
        self._observe = observe
        self._clock = clock
        self._token: str | None = None
        self._token_expiry = 0.0
        self._token_lock = asyncio.Lock()
        self._pending: dict[str, asyncio.Future[list[str]]] = {}

    async def aclose(self) -> None:
        for fut in self._pending.values():
            fut.cancel()
        if self._own_http:
            await self._http.aclose()

    # --- HTTP, tokens and error translation ----------------------------------------------------

    def _api_url(self, api: str, *parts: str) -> str:
        return "/".join([self.base_url, api, "v1", quote(self.af_id, safe=""), *parts])

    async def _send(self, api: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
        start = time.perf_counter()
        try:
            resp = await self._http.request(method, url, timeout=self._timeout_s, **kwargs)
        except httpx.TimeoutException as exc:
            self._record(api, "error", start)
            raise NefTimeout(f"NEF {api} timed out after {self._timeout_s}s: {exc!r}") from None
        except httpx.HTTPError as exc:
            self._record(api, "error", start)
            raise NefUnavailable(f"NEF {api} unreachable: {exc!r}") from None
        self._record(api, f"{resp.status_code // 100}xx", start)
        return resp

    def _record(self, api: str, status_class: str, start: float) -> None:
        if self._observe is not None:
            self._observe(api, status_class, time.perf_counter() - start)

    @staticmethod
    def _body(resp: httpx.Response) -> dict[str, Any]:
        try:
            body = resp.json()
        except ValueError:
            return {"detail": resp.text[:200]}
        return body if isinstance(body, dict) else {"detail": str(body)[:200]}

    def _raise_for(self, resp: httpx.Response) -> None:
        if resp.status_code >= 500:
            raise NefUnavailable(f"NEF answered {resp.status_code}", resp.status_code, self._body(resp))
        if resp.status_code >= 400:
            raise NefRejected(resp.status_code, self._body(resp))

    async def _bearer(self, refresh: bool = False) -> dict[str, str]:
        if self._client_id is None:
            return {}
        async with self._token_lock:
            if refresh or self._token is None or self._clock() >= self._token_expiry:
                await self._fetch_token()
            return {"Authorization": f"Bearer {self._token}"}

    async def _fetch_token(self) -> None:
        assert self._client_id is not None
        url = f"{self.base_url}/{CAPIF}/v1/securities/{quote(self._client_id, safe='')}/token"
        form = {"grant_type": "client_credentials", "client_id": self._client_id}
        if self._client_secret is not None:
            form["client_secret"] = self._client_secret
        resp = await self._send(CAPIF, "POST", url, data=form)
        self._raise_for(resp)
        body = resp.json()
        ttl = float(body.get("expires_in", 60))
        self._token = str(body["access_token"])
        # Renew a little before the NEF would refuse it: clocks and requests in flight.
        self._token_expiry = self._clock() + max(1.0, min(ttl - 30.0, ttl * 0.9))

    async def _call(self, api: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """A 3GPP API request with a Bearer token; one retry with a fresh token after a 401."""
        resp = await self._send(api, method, url, headers=await self._bearer(), **kwargs)
        if resp.status_code == 401 and self._client_id is not None:
            resp = await self._send(api, method, url, headers=await self._bearer(refresh=True), **kwargs)
        self._raise_for(resp)
        return resp

    async def delete_subscription(self, url: str) -> None:
        """Delete a subscription resource by its URL; one already gone is not an error."""
        api = next((a for a in (ANALYTICS, MUSA, MONITORING, QOS) if f"/{a}/" in url), "other")
        try:
            await self._call(api, "DELETE", url)
        except NefRejected as exc:
            if exc.status != 404:
                raise

    # --- 3gpp-analyticsexposure ----------------------------------------------------------------

    def _window(self, start_offset_s: float, duration_s: float) -> dict[str, str]:
        start = self._clock() + start_offset_s
        return {"startTs": _iso(start), "endTs": _iso(start + duration_s)}

    async def _fetch(self, body: dict[str, Any]) -> dict[str, Any] | None:
        try:
            resp = await self._call(ANALYTICS, "POST", self._api_url(ANALYTICS, "fetch"), json=body)
        except NefRejected as exc:
            if exc.status == 404 and exc.cause == "USER_NOT_FOUND":
                return None
            raise
        if resp.status_code == 204:
            return None
        data: dict[str, Any] = resp.json()
        return data

    async def predict_transfer_times(
        self, gpsis: Sequence[str], ul_bytes: int, dl_bytes: int, start_offset_s: float, duration_s: float
    ) -> dict[str, TransferPrediction]:
        """E2E_DATA_VOL_TRANS_TIME for each UE; UEs the NEF has no prediction for are left out."""
        wanted = list(dict.fromkeys(gpsis))
        if not wanted:
            return {}
        volume = {"uplinkVolume": int(ul_bytes), "downlinkVolume": int(dl_bytes)}
        base = {
            "analyEvent": "E2E_DATA_VOL_TRANS_TIME",
            "suppFeat": "0",
            "analyEventFilter": {"dataVlTrnsTmRqs": [{"dataVolume": volume, "repeatDataTrans": 1}]},
            "analyRep": self._window(start_offset_s, duration_s),
        }
        if len(wanted) <= PER_UE_LIMIT:
            answers = await asyncio.gather(*(self._fetch(base | {"tgtUe": {"gpsi": g}}) for g in wanted))
        else:
            answers = [await self._fetch(base | {"tgtUe": {"anyUeInd": True}})]
        out: dict[str, TransferPrediction] = {}
        for data in answers:
            for info in (data or {}).get("dataVlTrnsTmInfos", []):
                confidence = info.get("confidence")
                for slot in info.get("e2eDataVolTransTimes", []):
                    for ue in slot.get("e2eDataVolTransTimePerUe", []):
                        gpsi, t = ue.get("gpsi"), ue.get("dataVolTransTime") or {}
                        if gpsi in wanted:
                            out[gpsi] = TransferPrediction(
                                gpsi=gpsi,
                                ul_mean_s=_seconds(t.get("avgTransTimeUl", 0)),
                                ul_var_s2=_seconds2(t.get("varTransTimeUl", 0.0)),
                                dl_mean_s=_seconds(t.get("avgTransTimeDl", 0)),
                                dl_var_s2=_seconds2(t.get("varTransTimeDl", 0.0)),
                                confidence=None if confidence is None else float(confidence) / 100.0,
                            )
        return out

    async def qos_sustainability(
        self,
        thresholds: Sequence[str],
        *,
        cells: Sequence[str] | None = None,
        plmn_id: dict[str, str] | None = None,
        start_offset_s: float = 1.0,
        duration_s: float = 10.0,
        granularity_s: int | None = None,
    ) -> list[SustainabilityReport]:
        """QOS_SUSTAINABILITY: cells and slots where the RAN UE throughput falls below a BitRate threshold
        (e.g. "6.5 Gbps"); an empty list means every threshold is expected to hold."""
        flt: dict[str, Any] = {"ranUeThrouThds": list(thresholds)}
        if cells:
            plmn = plmn_id or {"mcc": "001", "mnc": "01"}
            flt["locArea"] = {"nwAreaInfo": {"ncgis": [{"plmnId": plmn, "nrCellId": c} for c in cells]}}
        if granularity_s:
            flt["temporalGranSize"] = int(granularity_s)
        body = {
            "analyEvent": "QOS_SUSTAINABILITY",
            "suppFeat": "0",
            "analyEventFilter": flt,
            "analyRep": self._window(start_offset_s, duration_s),
        }
        data = await self._fetch(body) or {}
        return [
            SustainabilityReport(
                cell_id=_cell_of(i["locArea"]) or "",
                start=i["startTs"],
                end=i["endTs"],
                threshold=str(i.get("ranUeThrouThd", "")),
                confidence=None if i.get("confidence") is None else float(i["confidence"]) / 100.0,
            )
            for i in data.get("qosSustainInfos", [])
        ]

    async def ue_mobility(
        self, gpsi: str, *, start_offset_s: float = 1.0, duration_s: float = 10.0
    ) -> list[CellShare]:
        """UE_MOBILITY: the cells the UE is expected in during the window, with the share of time."""
        body = {
            "analyEvent": "UE_MOBILITY",
            "suppFeat": "0",
            "tgtUe": {"gpsi": gpsi},
            "analyRep": self._window(start_offset_s, duration_s),
        }
        data = await self._fetch(body) or {}
        return [
            CellShare(cell_id=cell, ratio=None if i.get("ratio") is None else float(i["ratio"]) / 100.0)
            for mob in data.get("ueMobilityInfos", [])
            for i in mob.get("locInfo", [])
            if (cell := _cell_of(i.get("loc") or {})) is not None
        ]

    # --- 3gpp-musa -----------------------------------------------------------------------------

    async def member_candidates(
        self,
        gpsis: Sequence[str],
        *,
        ul_bytes: int,
        dl_bytes: int,
        max_ul_s: float,
        max_dl_s: float,
        rat_types: Sequence[str] = ("NR",),
        notif_uri: str,
        cells: Sequence[str] | None = None,
        plmn_id: dict[str, str] | None = None,
        start_offset_s: float = 0.0,
        duration_s: float | None = None,
        wait_s: float = 2.0,
        notif_id: str | None = None,
    ) -> list[str]:
        """Member UE selection assistance: the UEs of ``gpsis`` that meet the criteria, in their order.

        The answer arrives as a notification to ``notif_uri``: the AF's callback route must hand it to
        ``handle_notification``. The API cannot notify an empty selection, so no notification within
        ``wait_s`` means no candidate. The subscription is deleted afterwards.
        """
        notif_id = notif_id or f"musa-{id(self):x}-{time.perf_counter_ns():x}"
        e2e: dict[str, Any] = {
            "event": "E2E_DATA_VOL_TRANS_TIME",
            "dataVolTransTime": {
                "uplinkVolume": int(ul_bytes),
                "avgTransTimeUl": math.ceil(max_ul_s * 1000),
                "downlinkVolume": int(dl_bytes),
                "avgTransTimeDl": math.ceil(max_dl_s * 1000),
            },
        }
        if duration_s is not None:
            start = self._clock() + start_offset_s
            e2e["timeWin"] = {"startTime": _iso(start), "stopTime": _iso(start + duration_s)}
        body: dict[str, Any] = {
            "tgtUes": list(dict.fromkeys(gpsis)),
            "notifUri": notif_uri,
            "notifId": notif_id,
            "e2eTransTimeFilters": [e2e],
        }
        if rat_types:
            body["accRatTypeFilters"] = [{"ratTypes": list(rat_types)}]
        if cells:
            plmn = plmn_id or {"mcc": "001", "mnc": "01"}
            ncgis = [{"plmnId": plmn, "nrCellId": c} for c in cells]
            body["ueLocFilters"] = [{"event": "LOCATION_REPORT", "loc": {"nwAreaInfo": {"ncgis": ncgis}}}]
        fut: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
        self._pending[notif_id] = fut
        url: str | None = None
        try:
            resp = await self._call(MUSA, "POST", self._api_url(MUSA, "subscriptions"), json=body)
            url = resp.headers.get("location")
            try:
                chosen = set(await asyncio.wait_for(asyncio.shield(fut), wait_s))
            except TimeoutError:
                chosen = set()
            return [g for g in body["tgtUes"] if g in chosen]
        finally:
            self._pending.pop(notif_id, None)
            if url:
                await self.delete_subscription(url)

    def handle_notification(self, body: Any) -> bool:
        """Feed a NEF notification received by the AF; True when it answered a pending member selection."""
        if not isinstance(body, list):
            return False
        handled = False
        for notif in body:
            if not isinstance(notif, dict):
                continue
            fut = self._pending.get(str(notif.get("notifId")))
            if fut is None or fut.done():
                continue
            ues = [g for info in notif.get("candiUeInfos", []) for g in info.get("candiUes", [])]
            fut.set_result(ues)
            handled = True
        return handled

    # --- 3gpp-monitoring-event -----------------------------------------------------------------

    async def _location(self, gpsi: str) -> UeLocation | None:
        body = _ue_identity(gpsi) | {
            "monitoringType": "LOCATION_REPORTING",
            "locationType": "CURRENT_LOCATION",
            "accuracy": "CGI_ECGI",
            "maximumNumberOfReports": 1,
            "notificationDestination": f"{self.base_url}/unused",  # required; a one-time answer comes inline
        }
        try:
            resp = await self._call(MONITORING, "POST", self._api_url(MONITORING, "subscriptions"), json=body)
        except NefRejected as exc:
            if exc.status == 404:
                return None
            raise
        if resp.status_code == 201:  # answered later instead: this client only wants the current one
            await self.delete_subscription(resp.headers.get("location", ""))
            return None
        data = resp.json()
        report = (data.get("monitoringEventReports") or [data])[0]
        info = report.get("locationInfo") or {}
        nr = (info.get("userLocation") or {}).get("nrLocation") or {}
        cell = (nr.get("ncgi") or {}).get("nrCellId") or info.get("cellId")
        if not cell:
            return None
        return UeLocation(
            gpsi=gpsi,
            ncgi_cell_id=str(cell),
            tac=(nr.get("tai") or {}).get("tac") or info.get("trackingAreaId"),
            plmn_id=(nr.get("ncgi") or {}).get("plmnId"),
            event_time=report.get("eventTime"),
        )

    async def locations(self, gpsis: Sequence[str]) -> dict[str, UeLocation]:
        """Current serving cell of each UE (one-time LOCATION_REPORTING); UEs without one are left out."""
        found = await asyncio.gather(*(self._location(g) for g in dict.fromkeys(gpsis)))
        return {loc.gpsi: loc for loc in found if loc is not None}

    async def subscribe_loss_of_connectivity(
        self, gpsis: Sequence[str], notif_uri: str, *, expire_s: float = 3600.0
    ) -> list[str]:
        """LOSS_OF_CONNECTIVITY for each UE (a subscription names one UE): the subscription URLs."""
        url = self._api_url(MONITORING, "subscriptions")
        expire = _iso(self._clock() + expire_s)
        bodies = [
            _ue_identity(g)
            | {
                "monitoringType": "LOSS_OF_CONNECTIVITY",
                "notificationDestination": notif_uri,
                "monitorExpireTime": expire,
            }
            for g in dict.fromkeys(gpsis)
        ]
        resps = await asyncio.gather(*(self._call(MONITORING, "POST", url, json=b) for b in bodies))
        return [r.headers["location"] for r in resps]

    # --- 3gpp-as-session-with-qos --------------------------------------------------------------

    async def request_qos(
        self,
        gpsi: str,
        qos_reference: str,
        notif_uri: str,
        duration_s: float,
        *,
        events: Sequence[str] = DEFAULT_QOS_EVENTS,
        alt_qos_references: Sequence[str] = (),
    ) -> str:
        """Ask for the QoS named ``qos_reference`` (e.g. ``fl-ul-boost``) for a while; the resource URL."""
        body: dict[str, Any] = {
            "gpsi": gpsi,
            "notificationDestination": notif_uri,
            "qosReference": qos_reference,
            "qosDuration": max(1, math.ceil(duration_s)),
            "events": list(events),
        }
        if alt_qos_references:
            body["altQoSReferences"] = list(alt_qos_references)
        resp = await self._call(QOS, "POST", self._api_url(QOS, "subscriptions"), json=body)
        return resp.headers["location"]

    async def release_qos(self, resource_url: str) -> None:
        """Release QoS asked for with ``request_qos`` (already released is fine)."""
        await self.delete_subscription(resource_url)
