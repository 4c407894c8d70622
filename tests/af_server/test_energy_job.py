"""An ``energy`` job through the real AF and the real NEF mock over HTTP: device profiles declared at
registration, the cap applied with the NEF's predictions, the round record saying why, and the UEs'
reports calibrating their next predictions."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import torch
from prometheus_client import CollectorRegistry

from af_server.app import create_app
from af_server.planner import _energy_model
from af_server.selection import calibrated_ratio
from af_server.settings import AfSettings
from flcore.codecs import encode
from flcore.energy import EnergyModel
from flcore.models import build_model, float_state
from nef_mock.app import create_app as create_nef
from nef_mock.settings import DEV_CLIENT_SECRET
from tests.nef_mock.conftest import dev_settings
from tests.servers import serve

pytestmark = pytest.mark.integration

WRITE, ENROLL = "op-write-token", "enroll-key"
OP = {"Authorization": f"Bearer {WRITE}"}
PHONE = {"train_power_w": 4.0, "ul_power_w": 2.5, "dl_power_w": 1.2, "idle_power_w": 0.05}
PHONES = [f"msisdn-91000000000{i}" for i in range(3)]  # UEs 0-4 of the NEF's default scenario
HOT, BARE = "msisdn-910000000003", "msisdn-910000000004"
REPORTED_J = 0.5


@pytest.fixture
def stack(redis_url: str, tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    prefix = f"fl5gtest-{uuid.uuid4().hex[:8]}"
    with serve(create_nef(dev_settings(), registry=CollectorRegistry())) as nef:
        settings = AfSettings(
            dev_mode=True,
            redis_url=redis_url,
            redis_prefix=prefix,
            state_dir=tmp_path,
            nef_url=nef,
            nef_client_secret=DEV_CLIENT_SECRET,
            operator_write_tokens=[WRITE],
            ue_enrollment_keys=[ENROLL],
            lock_ttl_s=2.0,
        )
        with serve(create_app(settings)) as af:
            yield nef, af, prefix
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(f"{prefix}:*"))
    if keys:
        client.delete(*keys)


async def register(c: httpx.AsyncClient, gpsi: str, profile: dict[str, float] | None) -> dict[str, str]:
    body: dict[str, Any] = {"gpsi": gpsi, "num_samples": 100, "compute_profile": {"seconds_per_step": 0.01}}
    if profile is not None:
        body["energy_profile"] = profile
    r = await c.post("/af/v1/ues", json=body, headers={"Fl5g-Enrollment-Key": ENROLL})
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


async def take_one_task(c: httpx.AsyncClient, ue: dict[str, str], body: bytes, done: asyncio.Event) -> None:
    """A UE that uploads for the first task it gets, reporting REPORTED_J; or none until ``done``."""
    while not done.is_set():
        r = await c.get("/af/v1/ue/task", params={"wait": 1}, headers=ue)
        assert r.status_code in (200, 204), r.text
        if r.status_code == 200:
            hdr = ue | {"Fl5g-Num-Samples": "100", "Fl5g-Energy-Joules": str(REPORTED_J)}
            up = await c.post(r.json()["upload_url"], content=body, headers=hdr)
            assert up.status_code == 200, up.text
            return


async def test_energy_job_keeps_the_costly_and_the_unknown_out_and_learns_from_reports(
    stack: tuple[str, str, str], redis_url: str
) -> None:
    nef, af, prefix = stack
    async with httpx.AsyncClient(base_url=af, timeout=30) as c, httpx.AsyncClient(base_url=nef) as n:
        # Prepare: five UEs of the scenario attached; three phones, one whose radio draws 1 kW, one
        # that declares no profile
        for g in [*PHONES, HOT, BARE]:
            r = await n.put(f"/emulator/v1/ues/{g}", json={})
            assert r.status_code in (200, 201), r.text
        ues = {g: await register(c, g, PHONE) for g in PHONES}
        ues[HOT] = await register(c, HOT, PHONE | {"ul_power_w": 1000.0})
        ues[BARE] = await register(c, BARE, None)
        update = {k: torch.full_like(v, 1e-4) for k, v in float_state(build_model("smallcnn")).items()}
        body = encode(update, codec="none")
        spec = {
            "rounds": 1,
            "ues_per_round": 3,
            "selection": "energy",
            "max_energy_j": 20.0,
            "local_steps": 1,
            "deadline": {"mode": "fixed", "seconds": 5.0},
            "qos_boost": False,
            "eval_every": 1000,
        }
        # Execute
        r = await c.post("/af/v1/jobs", json=spec, headers=OP)
        assert r.status_code == 201, r.text
        job = r.json()["id"]
        done = asyncio.Event()
        workers = [asyncio.create_task(take_one_task(c, ue, body, done)) for ue in ues.values()]
        for _ in range(600):
            state = (await c.get(f"/af/v1/jobs/{job}", headers=OP)).json()
            if state["status"] != "running" and state["status"] != "pending":
                break
            await asyncio.sleep(0.1)  # polling the operator API for the job's end
        done.set()
        await asyncio.gather(*workers)
        rounds = (await c.get(f"/af/v1/jobs/{job}/rounds", headers=OP)).json()

    # Assert: the record says who was kept out and why, and what each chosen UE was predicted to spend
    assert state["status"] == "completed", state
    (rec,) = rounds
    assert rec["selection_policy"] == "energy" and rec["nef_degraded"] is False
    assert set(rec["over_energy_cap"]) == {HOT, BARE}
    assert rec["over_energy_cap"][HOT] > 20.0 and rec["over_energy_cap"][BARE] is None
    assert rec["selected"] and set(rec["selected"]) <= set(PHONES)
    for u in rec["ues"]:
        assert 0 < u["predicted_energy_j"] <= 20.0
        assert f"predicted {u['predicted_energy_j']:.3g} J" in u["reason"]
        assert u["outcome"] == "on_time" and u["energy_j"] == REPORTED_J
    # the reports calibrate each UE's next predictions; the UEs not chosen keep none
    rows = redis.Redis.from_url(redis_url, decode_responses=True)
    for u in rec["ues"]:
        stored = json.loads(rows.hget(f"{prefix}:ue:{u['gpsi']}", "energy_ratio") or "null")
        assert stored == pytest.approx(calibrated_ratio(1.0, REPORTED_J, u["predicted_energy_j"]), rel=1e-3)
    assert rows.hget(f"{prefix}:ue:{HOT}", "energy_ratio") is None
    assert json.loads(rows.hget(f"{prefix}:ue:{HOT}", "energy_profile") or "{}")["ul_power_w"] == 1000.0

    # registering again without a profile leaves none behind, nor a calibration against the old one
    chosen = rec["ues"][0]["gpsi"]
    async with httpx.AsyncClient(base_url=af, timeout=30) as c:
        await register(c, HOT, None)
        await register(c, chosen, None)
    assert rows.hget(f"{prefix}:ue:{HOT}", "energy_profile") is None
    assert rows.hget(f"{prefix}:ue:{chosen}", "energy_profile") is None
    assert rows.hget(f"{prefix}:ue:{chosen}", "energy_ratio") is None


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (PHONE, EnergyModel(4.0, 2.5, 1.2, 0.05)),
        (None, None),
        ({"train_power_w": -1.0, "ul_power_w": 1.0, "dl_power_w": 1.0}, None),  # not from this AF
        ("4 W", None),
    ],
)
def test_the_planner_reads_a_stored_profile_or_none(row: object, expected: EnergyModel | None) -> None:
    assert _energy_model(row) == expected
