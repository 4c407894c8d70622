"""A malicious UE in a real run: four honest UE agents train on their Fashion-MNIST shares, a fifth UE,
driven by this test, trains on its own share and reports its update scaled by -20 (sign-flipped and
blown up; every check on names, shapes, dtypes and finiteness passes). Plain FedAvg is wrecked by it;
the robust aggregations (coordinate-wise median, trimmed mean) stay close to the clean run.

The attack lives here, in the test, not in the UE agent: the product has no switch to misbehave.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest
import torch

from flcore.codecs import encode
from flcore.data import ImageSet, dirichlet_partition, load_fashion_mnist
from flcore.models import build_model, float_state
from flcore.training import batch_rng, delta, train_local
from tests.faults.conftest import Cluster, Service, TestUe, create_job, wait_for
from ue_agent.settings import gpsi_for

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

HONEST, ALPHA, SEED, SCALE = 4, 1.0, 0, -20.0
SPEC: dict[str, Any] = {
    "rounds": 2,
    "ues_per_round": HONEST + 1,
    "selection": "all",
    "local_steps": 20,
    "lr": 0.05,
    # a round closes as soon as all five reported; the deadline only matters when one cannot (its
    # training diverged on a wrecked global model: nothing finite to send)
    "deadline": {"mode": "fixed", "seconds": 20.0},
    "eval_every": 1000,  # the last round is evaluated
    "seed": 7,
}


class Attacker:
    """Takes every task it is given, trains honestly, then uploads ``scale`` x its update."""

    def __init__(self, ue: TestUe, data: ImageSet, index: int) -> None:
        self.ue = ue
        self.data = data
        self.index = index
        self.scale = 1.0
        self.done: set[tuple[str, int]] = set()
        self.outcomes: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            task = self.ue.poll_task(1.0)
            if task is None or (task["job_id"], task["round"]) in self.done:
                continue
            model = build_model(task["model"])
            base = self.ue.model(task)
            model.load_state_dict(base)
            train_local(
                model,
                self.data,
                steps=task["local_steps"],
                batch_size=task["batch_size"],
                lr=task["lr"],
                rng=batch_rng(task["seed"], task["round"], self.index),
            )
            update = {k: v * self.scale for k, v in delta(float_state(model), float_state_of(base)).items()}
            self.done.add((task["job_id"], task["round"]))
            if not all(bool(torch.isfinite(v).all()) for v in update.values()):
                self.outcomes.append("diverged")  # as an honest UE would, it has nothing to send
                continue
            r = self.ue.upload(task, encode(update, codec=task["codec"]), samples=len(self.data))
            self.outcomes.append(r.json().get("outcome", str(r.status_code)) if r.is_success else r.text)


def float_state_of(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v for k, v in state.items() if v.is_floating_point()}


def registered(ue: Service) -> int | None:
    n = sum(1 for u in ue.get("/status").json()["ues"] if u["registered"])
    return n if n == HONEST else None


def test_robust_aggregation_resists_a_scaled_sign_flipped_update(cluster: Cluster) -> None:
    af = cluster.af().start()
    # the honest UEs hold shares 0-3 of a five-way Dirichlet split; the attacker holds share 4
    ues = cluster.ues(af, HONEST, UE_PARTITIONS=str(HONEST + 1), UE_ALPHA=str(ALPHA), UE_DATA_SEED=str(SEED))
    af.wait_ready()
    ues.start()
    train = load_fashion_mnist("train")
    share = dirichlet_partition(train.labels, HONEST + 1, ALPHA, SEED)[HONEST]
    wait_for("the honest UEs to register", lambda: registered(ues), 60)
    ue = TestUe(af.url, gpsi_for(HONEST), cluster.keys.enrollment, num_samples=len(share)).register()
    attacker = Attacker(ue, train.subset(np.asarray(share)), HONEST)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    attacker.thread.start()
    accuracy: dict[str, float] = {}
    try:
        with cluster.operator(af) as op:
            for name, aggregation, scale in (
                ("clean fedavg", "fedavg", 1.0),
                ("attacked fedavg", "fedavg", SCALE),
                ("attacked median", "median", SCALE),
                ("attacked trimmed_mean", "trimmed_mean", SCALE),
            ):
                attacker.scale = scale
                job = create_job(op, {**SPEC, "aggregation": aggregation})

                def ended(job: str = job) -> dict[str, Any] | None:
                    state: dict[str, Any] = op.get(f"/af/v1/jobs/{job}").json()
                    return state if state["status"] in ("completed", "failed", "stopped") else None

                state = wait_for(f"the {name} job", ended, 120)
                assert state["status"] == "completed", state
                rounds = op.get(f"/af/v1/jobs/{job}/rounds").json()
                if name != "attacked fedavg":
                    # the attacker's updates are taken like everybody's: they pass every check
                    on_time = [sum(u["outcome"] == "on_time" for u in r["ues"]) for r in rounds]
                    assert on_time == [HONEST + 1] * SPEC["rounds"], (name, rounds)
                accuracy[name] = state["accuracy"]
    finally:
        attacker.stop.set()
        attacker.thread.join(timeout=30)
        torch.set_num_threads(threads)
        ue.close()
    clean, broken = accuracy["clean fedavg"], accuracy["attacked fedavg"]
    report = ", ".join(f"{k}: {v:.3f}" for k, v in accuracy.items())
    print(report)  # noqa: T201 (shown with -s: the numbers behind the assertions)
    assert clean > 0.55, report  # the short clean run learns (chance is 0.10)
    assert broken < clean - 0.25, report  # the attack wrecks plain FedAvg
    for robust in ("attacked median", "attacked trimmed_mean"):
        # the robust options shrug it off, at the price of combining fewer, coordinate-wise statistics
        # of non-IID updates (2 short rounds: median/trimmed mean learn a little slower than FedAvg)
        assert accuracy[robust] > clean - 0.2, report
        assert accuracy[robust] > broken + 0.3, report
