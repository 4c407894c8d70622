"""Local training and evaluation, shared by the UE agent and the in-process baseline."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from flcore.data import ImageSet


@dataclass(frozen=True)
class TrainResult:
    steps: int
    samples: int
    loss: float
    seconds: float

    @property
    def seconds_per_step(self) -> float:
        return self.seconds / max(self.steps, 1)


def batch_rng(seed: int, round_no: int, ue_index: int) -> np.random.Generator:
    """The batch order of one UE in one round: the same in the system and in the in-process baseline."""
    return np.random.default_rng([seed, round_no, ue_index])


def train_local(
    model: nn.Module,
    data: ImageSet,
    *,
    steps: int,
    batch_size: int,
    lr: float,
    rng: np.random.Generator,
    momentum: float = 0.9,
) -> TrainResult:
    """``steps`` SGD steps on mini-batches drawn without replacement (reshuffled per epoch)."""
    if len(data) == 0:
        raise ValueError("no local samples")
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    loss_fn = nn.CrossEntropyLoss()
    order = rng.permutation(len(data))
    pos = 0
    total = 0.0
    t0 = time.perf_counter()
    for _ in range(steps):
        if pos + batch_size > len(order):
            order, pos = rng.permutation(len(data)), 0
        idx = order[pos : pos + batch_size]
        pos += batch_size
        x, y = data.tensors(idx)
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        total += float(loss.detach())
    seconds = time.perf_counter() - t0
    return TrainResult(steps, steps * min(batch_size, len(data)), total / max(steps, 1), seconds)


@torch.no_grad()
def evaluate(model: nn.Module, data: ImageSet, *, batch_size: int = 250) -> tuple[float, float]:
    """Accuracy (0..1) and mean loss on ``data``."""
    model.eval()
    correct = 0
    loss_sum = 0.0
    loss_fn = nn.CrossEntropyLoss(reduction="sum")
    for start in range(0, len(data), batch_size):
        idx = np.arange(start, min(start + batch_size, len(data)))
        x, y = data.tensors(idx)
        out = model(x)
        loss_sum += float(loss_fn(out, y))
        correct += int((out.argmax(1) == y).sum())
    return correct / len(data), loss_sum / len(data)


def delta(local: Mapping[str, torch.Tensor], base: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The update a UE reports: local minus global, for every floating tensor of the global state."""
    return {k: local[k].detach().float() - base[k].float() for k in base}
