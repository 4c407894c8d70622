"""The UE agent's realtime pipeline overlaps for real: the next training runs while the last update
uploads; and the held copy follows the AF's downlink deltas."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import httpx
import numpy as np
import pytest
import torch
from prometheus_client import CollectorRegistry

from af_server.modelstore import GlobalModel
from flcore.codecs import decode
from flcore.data import ImageSet
from flcore.energy import EnergyModel
from flcore.models import build_model
from flcore.protocol import Task
from flcore.wire import SAFETENSORS, bytes_to_state, state_to_bytes
from ue_agent.agent import UeAgent
from ue_agent.held import HeldModel
from ue_agent.link import Link
from ue_agent.metrics import UeMetrics

GPSI = "msisdn-910000000007"


class CountingExecutor(ThreadPoolExecutor):
    """Sets ``started[n]`` when the n-th training job begins to run in its thread."""

    def __init__(self) -> None:
        super().__init__(max_workers=1)
        self.started = [threading.Event() for _ in range(4)]
        self._n = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        flag = self.started[self._n]
        self._n += 1

        def run() -> Any:
            flag.set()
            return fn(*args, **kwargs)

        return super().submit(run)


def task(n: int, version: int) -> Task:
    return Task(
        job_id="j",
        round=n,
        model="smallcnn",
        model_version=version,
        model_url="/af/v1/jobs/j/model",
        upload_url=f"/af/v1/jobs/j/rounds/{n}/updates",
        local_steps=3,
        batch_size=8,
        lr=0.01,
        seed=0,
        codec="none",
        deadline_s=30,
        deadline_at=0,
        timeline="realtime",
    )


async def test_the_next_training_runs_while_the_previous_update_uploads() -> None:
    executor = CountingExecutor()
    model = state_to_bytes(build_model("smallcnn", seed=0).state_dict())
    order: list[str] = []

    async def af(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            version = str(order.count("download"))
            order.append("download")
            headers = {
                "Fl5g-Model-Version": version,
                "Content-Type": SAFETENSORS,
                "Content-Length": str(len(model)),
            }
            return httpx.Response(200, stream=httpx.ByteStream(model), headers=headers)
        await request.aread()
        if request.url.path.endswith("/rounds/0/updates"):
            # the AF holds the first upload until the second training is running: a UE that trained
            # only after uploading would never get here in time
            started = await asyncio.to_thread(executor.started[1].wait, 20)
            order.append(f"upload 0 answered, second training {'running' if started else 'not started'}")
        else:
            order.append("upload 1 answered")
        return httpx.Response(200, json={"outcome": "on_time"})

    rng = np.random.default_rng(0)
    data = ImageSet(
        rng.integers(0, 255, (64, 28, 28), dtype=np.uint8), rng.integers(0, 10, 64).astype(np.int64)
    )
    async with httpx.AsyncClient(transport=httpx.MockTransport(af), base_url="http://af.test") as client:
        agent = UeAgent(
            index=0,
            gpsi=GPSI,
            data=data,
            af=client,
            link=Link(None, GPSI),
            executor=executor,
            metrics=UeMetrics(CollectorRegistry()),
            energy=EnergyModel(1, 1, 1),
            enrollment_key="k",
            token="t",
        )
        await agent.work_realtime(task(0, 0))
        await agent.work_realtime(task(1, 1))
        assert agent.pipeline is not None
        await asyncio.wait_for(agent.pipeline, 30)
        await asyncio.wait_for(agent.settle(), 30)
    executor.shutdown()
    assert "upload 0 answered, second training running" in order
    assert order.index("upload 0 answered, second training running") < order.index("upload 1 answered")
    assert agent.rounds_done == 2 and agent.held.version == 1


@pytest.mark.parametrize(("codec", "tol"), [("int8", 1e-3), ("topk", 0.0)])
def test_the_held_copy_follows_the_afs_broadcast_copy(codec: str, tol: float) -> None:
    af = GlobalModel.fresh("j", "smallcnn", 0)
    af.start_chain(codec, 0.05)
    held = HeldModel()
    t = task(0, 0).model_copy(update={"downlink": codec})
    held.take(t, af.wire(), {"Fl5g-Model-Version": "0", "etag": af.etag})
    gen = torch.Generator().manual_seed(0)
    for version in range(1, 4):
        with torch.no_grad():
            for p in af.module.parameters():
                p.add_(torch.randn(p.shape, generator=gen) * 0.01)
        af.bump()
        t = task(version, version).model_copy(update={"downlink": codec})
        params, _ = held.request(t)
        assert params == {"base": str(version - 1), "codec": codec}
        body = af.delta(int(params["base"]), codec, 0.05)
        assert body is not None and len(body) < len(af.wire()) / 3
        assert held.take(t, body, {"Fl5g-Model-Version": str(version), "Fl5g-Delta-Base": params["base"]})
    assert held.state is not None
    chain = next(iter(af._chains.values()))
    copy = chain.copies[3]
    # exactly the AF's broadcast copy (what a UE following every version holds), never drifting off it
    for k, v in copy.items():
        assert torch.allclose(held.state[k], v, atol=1e-6), k
    # and the broadcast copy is close to the true model: what a step left out goes with the next one
    err = max(float((copy[k] - v).abs().max()) for k, v in af.state().items())
    assert err <= 0.05 if codec == "topk" else err <= tol
    # a UE that missed a version gets the gap at once, landing on the same copy
    gap = af.delta(1, codec, 0.05)
    assert gap is not None
    step = decode(gap, af.spec)
    for k, v in copy.items():
        assert torch.allclose(chain.copies[1][k] + step[k], v, atol=1e-3 if codec == "int8" else 1e-6), k
    assert bytes_to_state(af.wire()).keys() == held.state.keys()
