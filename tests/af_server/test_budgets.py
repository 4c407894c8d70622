"""Budgets: the AF's aggregation EWMA, per-UE compute statistics, TR budgets and upload byte budgets."""

from __future__ import annotations

import pytest

from af_server.budgets import SAFETY_MARGIN, Ewma, byte_budget, step_stats
from af_server.coordinator import _measured
from af_server.modelstore import GlobalModel
from af_server.planner import TOPK_FLOOR_DENSITY, volumes
from af_server.schemas import JobSpec, JobState, UeRecord
from af_server.selection import Candidate, Plan, Prediction, budget_s
from flcore.codecs import encode, encoded_size
from flcore.timeline import derive_budget

MB = 1_000_000


def test_ewma_follows_the_aggregation_time_and_its_spread() -> None:
    e = Ewma(alpha=0.5)
    assert e.value(0.02) == 0.02  # nothing measured yet: the default
    assert e.add(0.010) == pytest.approx(0.010)
    assert e.add(0.020) == pytest.approx(0.015)
    assert e.add(0.020) == pytest.approx(0.0175)
    assert e.var > 0
    assert e.add(float("nan")) == pytest.approx(0.0175)  # a broken sample is ignored


def test_step_stats_and_what_an_update_teaches_about_its_ue() -> None:
    mean, var = step_stats(None, 0.0, 0.05)
    assert (mean, var) == (0.05, 0.0)
    mean, var = step_stats(0.05, 0.0, 0.15, alpha=0.5)
    assert mean == pytest.approx(0.10) and var == pytest.approx(0.0025)
    rec = UeRecord(
        gpsi="msisdn-910000000001",
        outcome="on_time",
        reason="r",
        deadline_s=1.0,
        compute_s=2.0,
        train_loss=0.7,
    )
    # the registration's benchmark has no variance yet: the first measurement replaces it
    fields = _measured(rec, {"seconds_per_step": 0.01}, steps=20)
    assert fields == {"seconds_per_step": 0.1, "step_var_s2": 0.0, "last_loss": 0.7}
    fields = _measured(rec, {"seconds_per_step": 0.2, "step_var_s2": 0.0}, steps=20)
    assert fields["seconds_per_step"] == pytest.approx(0.2 + 0.3 * (0.1 - 0.2))


def test_each_ues_budget_comes_from_its_own_compute_time_by_the_tr_rule() -> None:
    slow = Candidate("msisdn-910000000001", 1, seconds_per_step=0.0325)
    fast = Candidate("msisdn-910000000002", 1, seconds_per_step=0.0105)
    plan = Plan(k=1, steps=10, timeline="realtime", aggregation_s=0.01)
    # Table 7.x.6-1 rows 1 and 5: 325 ms and 105 ms of compute per iteration
    assert budget_s(slow, plan) == pytest.approx(derive_budget(0.325, 0.01)) == pytest.approx(0.1525)
    assert budget_s(fast, plan) == pytest.approx(0.0425)
    # an aggregation longer than half the compute still leaves the floor, not a negative budget
    assert budget_s(fast, Plan(k=1, steps=10, timeline="realtime", aggregation_s=1.0)) == 0.01


def test_byte_budget_is_rate_times_upload_budget_less_the_margin() -> None:
    # 1 MB up in 0.1 s: 80 Mbit/s; realtime budget (1 s compute) 0.5 s -> 5 MB, less 25 %
    c = Candidate(
        "msisdn-910000000001",
        1,
        seconds_per_step=0.1,
        prediction=Prediction(0.01, 0.0, 0.1, 0.0, 1.0, ul_bytes=MB, dl_bytes=MB),
    )
    plan = Plan(k=1, steps=10, timeline="realtime")
    assert byte_budget(c, plan) == int(80e6 * 0.5 * (1 - SAFETY_MARGIN) / 8) == 3_750_000
    # two of our UEs in its cell: half the rate
    assert byte_budget(c, plan, sharing=2) == 1_875_000
    assert byte_budget(c, plan, cap=1_000_000) == 1_000_000
    assert byte_budget(c, plan, sharing=1000, floor=20_000) == 20_000
    # sync with a fixed deadline: the upload has what compute and the download leave
    sync = Plan(k=1, steps=10, deadline_s=1.51)
    assert byte_budget(c, sync) == int(80e6 * 0.5 * (1 - SAFETY_MARGIN) / 8)
    c.prediction = None
    assert byte_budget(c, plan) is None


def test_topk_volumes_a_floor_for_selection_and_the_density_cap() -> None:
    model = GlobalModel.fresh("j", "smallcnn", 0)
    job = JobState(id="j", spec=JobSpec(codec="topk", density=0.01), created_at=0, updated_at=0)
    v = volumes(job, model)
    assert v.ul_floor == encoded_size(model.spec, codec="topk", density=TOPK_FLOOR_DENSITY) == v.ul_bytes
    assert v.ul_cap == encoded_size(model.spec, codec="topk", density=0.01)
    assert v.dl_full == v.dl_delta == len(model.wire())
    # an update encoded to the floor budget fits it
    body = encode(model.state(), codec="topk", byte_budget=v.ul_floor)
    assert len(body) <= v.ul_floor
    dense = volumes(
        JobState(id="j", spec=JobSpec(codec="int8", downlink="int8"), created_at=0, updated_at=0), model
    )
    assert dense.ul_bytes == dense.ul_cap == encoded_size(model.spec, codec="int8")
    assert dense.dl_delta < dense.dl_full / 3


async def test_nef_down_selection_falls_back_to_random_with_the_fallback_deadline(redis_url: str) -> None:
    import random
    import time
    import uuid

    import redis.asyncio as aioredis
    from prometheus_client import CollectorRegistry

    from af_server.metrics import Metrics
    from af_server.nef_client import NefClient
    from af_server.planner import Planner
    from af_server.settings import AfSettings
    from af_server.store import Store

    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    store = Store(client, f"fl5gtest-{uuid.uuid4().hex[:8]}")
    for i in range(4):
        await store.put_ue(
            f"msisdn-91000000000{i}", {"num_samples": 100, "seconds_per_step": 0.05, "last_seen": time.time()}
        )
    metrics = Metrics(CollectorRegistry(), [1.0])
    nef = NefClient("http://127.0.0.1:1", af_id="fl5g-af", client_id=None, client_secret=None, timeout_s=1.0)
    planner = Planner(AfSettings(dev_mode=True), store, metrics, nef)
    model = GlobalModel.fresh("j", "smallcnn", 0)
    spec = JobSpec(selection="deadline", ues_per_round=2, local_steps=10)
    try:
        plan = await planner.plan(
            JobState(id="j", spec=spec, created_at=0, updated_at=0),
            model,
            random.Random(0),
            aggregation_s=0.0,
            incumbents=set(),
        )
    finally:
        await nef.aclose()
        await client.delete(*[k async for k in client.scan_iter(f"{store.p}:*")])
        await client.aclose()
    assert plan.degraded and plan.policy == "random" and plan.expected_on_time is None
    assert len(plan.choices) == 2 and all(c.reason == "random sample" for c in plan.choices)
    # no link data: compute (10 x 0.05 s) x 2 + 1 s, times the default slack 1.5
    assert plan.deadline_s == pytest.approx((0.5 * 2 + 1.0) * 1.5)
    assert metrics.nef_degraded._value.get() == 1
