"""Aggregation of one iteration's updates, as they arrive.

FedAvg keeps one running weighted sum (one accumulator, no stored updates: memory is one model).
The robust options must see every update before they can combine them, so they keep the decoded
updates of the iteration; use them with models that fit that many times in memory.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field

import torch

from flcore.codecs import CodecError, decode, decode_into
from flcore.models import ModelSpec


@dataclass
class Aggregator:
    spec: ModelSpec
    method: str = "fedavg"
    max_norm: float | None = None
    trim_ratio: float = 0.2
    total_weight: float = 0.0
    count: int = 0
    _acc: dict[str, torch.Tensor] = field(default_factory=dict, init=False, repr=False)
    _kept: list[tuple[float, dict[str, torch.Tensor]]] = field(default_factory=list, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.method in ("fedavg", "clipped_fedavg"):
            self._acc = {k: torch.zeros(s.shape, dtype=torch.float32) for k, s in self.spec.items()}

    def add(self, body: bytes | bytearray | memoryview, weight: float) -> float:
        """Decode and fold one update in; returns its L2 norm. On CodecError the sum stays as it was."""
        if not math.isfinite(weight) or weight <= 0:
            raise CodecError("weight must be a positive number", param="numSamples")
        refuse_above = self.max_norm if self.method == "fedavg" else None
        with self._lock:
            if self.method == "fedavg":
                info = decode_into(body, self.spec, self._acc, weight, max_norm=refuse_above)
                norm = float(info.l2_norm)
            else:
                dense = decode(body, self.spec)
                norm = math.sqrt(sum(float(t.double().pow(2).sum()) for t in dense.values()))
                if self.method == "clipped_fedavg":
                    scale = min(1.0, (self.max_norm or math.inf) / max(norm, 1e-12))
                    for k, t in dense.items():
                        self._acc[k].add_(t, alpha=weight * scale)
                else:
                    self._kept.append((weight, dense))
            self.total_weight += weight
            self.count += 1
        return norm

    def result(self) -> dict[str, torch.Tensor] | None:
        """The combined update (already divided by the weights), or None when nothing arrived."""
        with self._lock:
            if self.count == 0:
                return None
            if self.method in ("fedavg", "clipped_fedavg"):
                return {k: v / self.total_weight for k, v in self._acc.items()}
            out: dict[str, torch.Tensor] = {}
            for name in self.spec:
                stacked = torch.stack([u[name] for _, u in self._kept])
                if self.method == "median":
                    out[name] = stacked.median(dim=0).values
                else:
                    k = int(self.trim_ratio * stacked.shape[0])
                    ordered = stacked.sort(dim=0).values
                    out[name] = ordered[k : stacked.shape[0] - k].mean(dim=0)
            return out
