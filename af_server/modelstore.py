"""The global model of a job: weights in memory, its wire bytes cached, checkpoints on disk, and the
downlink deltas of TR 22.874 §7.2 ("sparse weight distribution").

Downlink deltas. For each delta codec a UE asks for (``int8``, or ``topk`` at a density) the model
keeps a *broadcast copy* W~ that follows the true weights W one lossy step per version:
W~[v] = W~[v-1] + Q(W[v] - W~[v-1]). The body of that step is what a UE holding version v-1 gets, so a
UE that follows every version holds W~[v] exactly, and what Q dropped stays in W[v] - W~[v] and goes
out with a later step (error feedback, no drift). A UE further behind, but within the last
``HISTORY`` versions, gets W~[v] - W~[base]: sparse and lossless for ``topk`` (the union of the steps'
entries, sent whole), int8 for ``int8`` (one quantisation of the gap, which later steps do not grow).
A UE even further behind, or one asking for a version this chain never held, gets the full model; so
does any delta that would not be smaller than it. A UE that took the full (true) model and then
follows the chain keeps the constant offset W[v] - W~[v] of that moment: bounded, never growing.
"""

from __future__ import annotations

import math
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from flcore.codecs import decode as decode_update
from flcore.codecs import encode
from flcore.models import ModelSpec, build_model, float_state, model_spec
from flcore.wire import bytes_to_state, state_to_bytes

HISTORY = 4
"""Versions of each broadcast copy kept: how far behind a UE may be and still get a delta."""
DELTA_CODECS = ("int8", "topk")
DEFAULT_DOWNLINK_DENSITY = 0.01


@dataclass
class _Chain:
    codec: str
    density: float | None
    copies: OrderedDict[int, dict[str, torch.Tensor]] = field(default_factory=OrderedDict)
    steps: dict[int, bytes] = field(default_factory=dict)


@dataclass
class GlobalModel:
    job_id: str
    model_name: str
    version: int
    module: nn.Module
    spec: ModelSpec = field(init=False)
    _wire: bytes | None = field(default=None, init=False, repr=False)
    _coded: dict[str, bytes] = field(default_factory=dict, init=False, repr=False)
    _chains: dict[tuple[str, float | None], _Chain] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        self.spec = model_spec(float_state(self.module))

    @classmethod
    def fresh(cls, job_id: str, model_name: str, seed: int) -> GlobalModel:
        return cls(job_id, model_name, 0, build_model(model_name, seed=seed))

    def state(self) -> dict[str, torch.Tensor]:
        return float_state(self.module)

    def wire(self) -> bytes:
        """The safetensors body UEs download; built once per version."""
        if self._wire is None:
            meta = {"job": self.job_id, "model": self.model_name, "version": str(self.version)}
            self._wire = state_to_bytes(self.module.state_dict(), meta)
        return self._wire

    def coded(self, codec: str) -> bytes:
        """The floating state through an update codec (the TR's 8-bit model), once per version."""
        if codec not in self._coded:
            self._coded = {codec: encode(self.state(), codec=codec)}
        return self._coded[codec]

    @property
    def etag(self) -> str:
        return f'"{self.job_id}-v{self.version}"'

    def bump(self) -> None:
        """Publish the weights as the next version (and advance every downlink chain to it)."""
        with self._lock:
            self.version += 1
            self._wire = None
            self._coded = {}
            for chain in self._chains.values():
                self._advance(chain)

    # Downlink deltas ---------------------------------------------------------------------------
    def _advance(self, chain: _Chain) -> None:
        prev = next(reversed(chain.copies.values()))
        diff = {k: v.detach().float() - prev[k] for k, v in self.state().items()}
        body = _encode_delta(diff, chain.codec, chain.density)
        step = decode_update(body, self.spec)
        chain.copies[self.version] = {k: prev[k] + step[k] for k in prev}
        chain.steps[self.version] = body
        while len(chain.copies) > HISTORY:
            old, _ = chain.copies.popitem(last=False)
            chain.steps.pop(old, None)

    def start_chain(self, codec: str, density: float | None = None) -> None:
        """Keep a broadcast copy for ``codec`` from this version on (a UE's first delta request would)."""
        self.delta(self.version, codec, density)

    def delta(self, base: int, codec: str, density: float | None = None) -> bytes | None:
        """The body that takes a UE from ``base`` to this version, or None: send the full model."""
        if codec not in DELTA_CODECS:
            raise ValueError(f"unknown delta codec {codec!r}; known: {', '.join(DELTA_CODECS)}")
        density = (density or DEFAULT_DOWNLINK_DENSITY) if codec == "topk" else None
        with self._lock:
            chain = self._chains.get((codec, density))
            if chain is None:
                # the chain starts here: this version's copy is the true model, which the UE takes whole
                chain = _Chain(codec, density)
                chain.copies[self.version] = {k: v.detach().clone().float() for k, v in self.state().items()}
                self._chains[(codec, density)] = chain
                return None
            if base == self.version - 1 and self.version in chain.steps:
                body = chain.steps[self.version]
            elif base in chain.copies and base < self.version and self.version in chain.copies:
                now, then = chain.copies[self.version], chain.copies[base]
                gap = {k: now[k] - then[k] for k in now}
                body = _encode_delta(gap, codec, None if codec == "int8" else _nonzero_share(gap))
            else:
                return None
        return body if len(body) < len(self.wire()) else None

    # Checkpoints -------------------------------------------------------------------------------
    def save(self, directory: Path) -> Path:
        return self.save_bytes(directory, self.job_id, self.version, self.wire())

    @staticmethod
    def save_bytes(directory: Path, job_id: str, version: int, wire: bytes) -> Path:
        """Write a checkpoint atomically (temp file + rename) so a crash never leaves half a file."""
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{job_id}-v{version:05d}.safetensors"
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(wire)
        with tmp.open("rb") as fh:
            os.fsync(fh.fileno())
        tmp.replace(path)
        for old in sorted(directory.glob(f"{job_id}-v*.safetensors"))[:-3]:
            old.unlink(missing_ok=True)
        return path

    @classmethod
    def load(cls, job_id: str, model_name: str, version: int, path: Path) -> GlobalModel:
        module = build_model(model_name)
        module.load_state_dict(bytes_to_state(path.read_bytes()))
        return cls(job_id, model_name, version, module)


def _nonzero_share(diff: dict[str, torch.Tensor]) -> float:
    """The density that sends every nonzero entry of ``diff`` (a lossless topk body)."""
    total = sum(t.numel() for t in diff.values())
    nnz = sum(int(torch.count_nonzero(t)) for t in diff.values())
    return min(1.0, max(nnz, 1) / max(total, 1))


def _encode_delta(diff: dict[str, torch.Tensor], codec: str, density: float | None) -> bytes:
    if codec == "int8":
        return encode(diff, codec="int8", block=256)
    d = density if density is not None and math.isfinite(density) else DEFAULT_DOWNLINK_DENSITY
    return encode(diff, codec="topk", density=d)
