"""The global model of a job: weights in memory, its wire bytes cached, checkpoints on disk."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from flcore.codecs import encode
from flcore.models import ModelSpec, build_model, float_state, model_spec
from flcore.wire import bytes_to_state, state_to_bytes


@dataclass
class GlobalModel:
    job_id: str
    model_name: str
    version: int
    module: nn.Module
    spec: ModelSpec = field(init=False)
    _wire: bytes | None = field(default=None, init=False, repr=False)
    _coded: dict[str, bytes] = field(default_factory=dict, init=False, repr=False)

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
        self.version += 1
        self._wire = None
        self._coded = {}

    def save(self, directory: Path) -> Path:
        """Write the checkpoint atomically (temp file + rename) so a crash never leaves half a file."""
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{self.job_id}-v{self.version:05d}.safetensors"
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(self.wire())
        with tmp.open("rb") as fh:
            os.fsync(fh.fileno())
        tmp.replace(path)
        for old in sorted(directory.glob(f"{self.job_id}-v*.safetensors"))[:-3]:
            old.unlink(missing_ok=True)
        return path

    @classmethod
    def load(cls, job_id: str, model_name: str, version: int, path: Path) -> GlobalModel:
        module = build_model(model_name)
        module.load_state_dict(bytes_to_state(path.read_bytes()))
        return cls(job_id, model_name, version, module)
