"""A fleet with UE_DEVICE_MIX: each UE registers with the real AF the energy profile of its class."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from prometheus_client import CollectorRegistry

from af_server.app import create_app
from af_server.settings import AfSettings
from flcore.protocol import EnergyProfile
from tests.servers import serve
from ue_agent.devices import DEVICE_CLASSES, TYPICAL_MIX, device_class, parse_mix
from ue_agent.fleet import Fleet
from ue_agent.metrics import UeMetrics
from ue_agent.settings import UeSettings

pytestmark = pytest.mark.integration

ENROLL = "enroll-key"
FIRST, COUNT, SEED = 30, 10, 5  # one whole block of the typical mix, hosted from index 30


@pytest.fixture
def af(redis_url: str, tmp_path: Path) -> Iterator[tuple[str, redis.Redis, str]]:
    prefix = f"fl5gtest-{uuid.uuid4().hex[:8]}"
    settings = AfSettings(
        dev_mode=True,
        redis_url=redis_url,
        redis_prefix=prefix,
        state_dir=tmp_path,
        ue_enrollment_keys=[ENROLL],
        lock_ttl_s=2.0,
    )
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    with serve(create_app(settings)) as url:
        yield url, client, prefix
    keys = list(client.scan_iter(f"{prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()


async def test_each_fleet_ue_registers_the_profile_of_its_class(af: tuple[str, redis.Redis, str]) -> None:
    url, rows, prefix = af
    # Prepare: the fleet's agents, built as `fl5g serve ue` builds them, not running their loops
    settings = UeSettings(
        af_url=url, enrollment_key=ENROLL, count=COUNT, first_index=FIRST, data_seed=SEED,
        device_mix=TYPICAL_MIX, pace=False, train_workers=1,
    )
    fleet = Fleet(settings, UeMetrics(CollectorRegistry()))
    try:
        await fleet.build()
        # Execute: each registers once, as its loop's first step does
        for agent in fleet.agents:
            await agent.register()
            assert agent.token is not None
    finally:
        await fleet.close()
    # Assert: the class is the mapping's, and the AF holds that class's powers for the UE
    mix = parse_mix(TYPICAL_MIX)
    devices = [a.device for a in fleet.agents]
    assert devices == [device_class(FIRST + i, SEED, mix) for i in range(COUNT)]
    assert Counter(devices) == dict(mix)  # a whole block: every class, its weight of times
    for agent in fleet.agents:
        assert agent.device is not None
        stored = json.loads(rows.hget(f"{prefix}:ue:{agent.gpsi}", "energy_profile") or "null")
        assert EnergyProfile.model_validate(stored).model() == DEVICE_CLASSES[agent.device]
        assert agent.energy == DEVICE_CLASSES[agent.device]  # what its energy reports use
