"""Taking one UE's update: checks before the body, the body streamed into one buffer, folded into the sum.

Where it goes (``ActiveRound.target``): an update answers the task of the iteration its URL names.
In ``sync`` it is aggregated in that iteration. In ``realtime`` it is aggregated in the next one,
whose base is one version newer: staleness 1 (0 when the UE already trained on that newer version),
decoded into that iteration's sum at once even when it arrives while the task's own iteration is
still open. An iteration whose base is version b takes updates computed on b or (realtime) on b - 1,
never older ones (``Fl5g-Base-Version``, when sent, must say which, or 409 STALE_UPDATE). An update is
weighted ``num_samples / (1 + sqrt(staleness))`` (FedBuff's staleness weight: a stale update counts
half a fresh one of the same size; FedAvg divides by the total weight, so when all are equally stale
it cancels) and its record carries ``base_version`` and ``staleness``. An update arriving after the
deadline of the iteration that aggregates it is recorded ``late`` and not aggregated; nothing late is
carried into a later iteration.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

from starlette.requests import ClientDisconnect

from af_server.metrics import Metrics
from af_server.rounds import ActiveRound
from af_server.settings import AfSettings
from af_server.store import Store
from flcore.codecs import CodecError
from flcore.problem import ProblemError
from flcore.wire import BodyError, parse_content_length, read_exactly


def staleness_weight(staleness: int) -> float:
    return 1.0 / (1.0 + math.sqrt(max(0, staleness)))


@dataclass
class Upload:
    job_id: str
    round_no: int
    gpsi: str
    headers: Mapping[str, str]
    body: AsyncIterator[bytes]
    max_samples: int


def find_round(rounds: list[ActiveRound], up: Upload) -> ActiveRound:
    """The iteration (open, or closing in its grace) that takes this upload; 409 or 403 otherwise."""
    for rnd in rounds:
        if rnd.target(up.gpsi, up.round_no) is not None:
            return rnd
    current = max((r.round_no for r in rounds), default=None)
    if any(r.round_no == up.round_no for r in rounds):
        raise ProblemError(
            403, f"{up.gpsi} was not selected for iteration {up.round_no}", cause="NOT_SELECTED"
        )
    cause = "ROUND_CLOSED" if current is None or up.round_no < current else "WRONG_ROUND"
    raise ProblemError(
        409,
        f"iteration {up.round_no} of job {up.job_id} is not open (open: {current})",
        cause=cause,
        invalid=[("round", f"open iteration is {current}")],
    )


async def accept(
    rnd: ActiveRound, up: Upload, *, closing: bool, settings: AfSettings, store: Store, metrics: Metrics
) -> dict[str, object]:
    """Take the update into ``rnd``; ``closing``: the iteration closed but still records late bodies."""
    start = time.monotonic()
    found = rnd.target(up.gpsi, up.round_no)
    assert found is not None
    c, early = found
    if up.gpsi in c.records or up.gpsi in c.inflight:
        dropped = up.gpsi in c.records and (c.records[up.gpsi].detail or "").startswith("dropped")
        raise ProblemError(
            409,
            f"{up.gpsi} was dropped from iteration {up.round_no}"
            if dropped
            else f"{up.gpsi} already reported for iteration {up.round_no}",
            cause="UE_DROPPED" if dropped else "DUPLICATE_UPDATE",
        )
    if rnd.closed and not closing and not early:
        raise ProblemError(409, f"iteration {rnd.round_no} is closed", cause="ROUND_CLOSED")
    limit = settings.max_upload_bytes
    budget = c.owed[up.gpsi].byte_budget
    if budget is not None:
        limit = min(limit, budget)
    try:
        length = parse_content_length(up.headers.get("content-length"), limit=limit)
        samples = min(_positive(up.headers, "fl5g-num-samples"), up.max_samples)
        claimed = _version(up.headers)
    except BodyError as exc:
        raise ProblemError(exc.status, str(exc), invalid=[(exc.param, str(exc))]) from None
    agg_base = rnd.aggregated_base(c)
    base = claimed if claimed is not None else c.base
    if base not in (agg_base, agg_base - 1) or (not rnd.realtime and base != agg_base):
        raise ProblemError(
            409,
            f"the update is computed on version {base}; the iteration aggregating it is based on {agg_base}",
            cause="STALE_UPDATE",
            invalid=[("fl5g-base-version", f"{c.base} expected")],
        )
    if not await store.claim_upload(up.job_id, up.round_no, up.gpsi):
        raise ProblemError(
            409, f"{up.gpsi} already reported for iteration {up.round_no}", cause="DUPLICATE_UPDATE"
        )
    c.inflight.add(up.gpsi)
    c.settled.clear()
    try:
        try:
            buf = await read_exactly(up.body, length)
        except BodyError as exc:
            await store.unclaim_upload(up.job_id, up.round_no, up.gpsi)
            raise ProblemError(exc.status, str(exc), invalid=[(exc.param, str(exc))]) from None
        except ClientDisconnect:
            # the UE went away mid-body: drop what came, let it try again while the round is open
            await store.unclaim_upload(up.job_id, up.round_no, up.gpsi)
            raise ProblemError(400, "upload aborted before its end", cause="INCOMPLETE_BODY") from None
        arrival = rnd.elapsed()
        metrics.transfer_bytes.labels("ul").inc(length)
        staleness = agg_base - base
        extra: dict[str, object] = {
            "actual_ul_s": round(time.monotonic() - start, 6),
            "actual_dl_s": _optional(up.headers, "fl5g-download-seconds"),
            "compute_s": _optional(up.headers, "fl5g-compute-seconds"),
            "train_loss": _optional(up.headers, "fl5g-train-loss"),
            "energy_j": _optional(up.headers, "fl5g-energy-joules"),
            "arrival_s": round(arrival, 6),
            "arrived_at": round(time.time(), 6),
            "bytes_ul": length,
            "num_samples": samples,
            "base_version": base,
            "staleness": staleness,
        }
        if early:
            # came before the iteration that aggregates it opened: arrival counts from that iteration
            extra["arrival_s"] = 0.0
            extra["detail"] = f"arrived {arrival:.3f}s into iteration {rnd.round_no}, before its own"
        elif rnd.closed or time.monotonic() > rnd.deadline_mono:
            # a body still streaming after the late grace was written off as missing at the
            # close (counted, committed): it stays that, or the UE is counted twice
            if up.gpsi not in c.records:
                metrics.updates.labels("late").inc()
                metrics.update_latency.observe(arrival)
                rnd.record(c, up.gpsi, "late", **extra)
            return {
                "outcome": "late",
                "aggregated": False,
                "arrival_s": arrival,
                "deadline_s": rnd.deadline_s,
            }
        t0 = time.perf_counter()
        weight = float(samples) * staleness_weight(staleness)
        try:
            norm = await asyncio.to_thread(c.aggregator.add, buf, weight)
        except CodecError as exc:
            # refused, not counted yet: the UE may still send a good update before the deadline
            c.rejections[up.gpsi] = str(exc)
            await store.unclaim_upload(up.job_id, up.round_no, up.gpsi)
            raise ProblemError(
                400,
                f"update refused: {exc}",
                cause="INVALID_UPDATE",
                invalid=[(exc.param or "body", str(exc))],
            ) from None
        metrics.aggregation.observe(time.perf_counter() - t0)
        metrics.updates.labels("on_time").inc()
        metrics.update_latency.observe(0.0 if early else arrival)
        rnd.record(c, up.gpsi, "on_time", **extra)
        return {
            "outcome": "on_time",
            "aggregated": True,
            "arrival_s": arrival,
            "norm": norm,
            "staleness": staleness,
        }
    finally:
        c.inflight.discard(up.gpsi)
        if not c.inflight:
            c.settled.set()


def _positive(headers: Mapping[str, str], name: str) -> int:
    raw = headers.get(name)
    if raw is None:
        raise BodyError(f"header {name} is required", param=name)
    try:
        v = int(raw)
    except ValueError:
        raise BodyError(f"header {name} must be an integer, not {raw!r}", param=name) from None
    if v <= 0 or v > 10_000_000:
        raise BodyError(f"header {name} must be in 1..10000000", param=name)
    return v


def _version(headers: Mapping[str, str]) -> int | None:
    raw = headers.get("fl5g-base-version")
    if raw is None:
        return None
    try:
        v = int(raw)
    except ValueError:
        raise BodyError(
            f"header Fl5g-Base-Version must be an integer, not {raw!r}", param="fl5g-base-version"
        ) from None
    if v < 0:
        raise BodyError("header Fl5g-Base-Version must be >= 0", param="fl5g-base-version")
    return v


def _optional(headers: Mapping[str, str], name: str) -> float | None:
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        v = float(raw)
    except ValueError:
        return None
    return v if math.isfinite(v) and v >= 0 else None
