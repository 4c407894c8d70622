"""The global model as a UE holds it, and how a download (full, or a delta from it) updates it.

A UE keeps its copy apart from the module it trains, so that in ``realtime`` the next version can
download while the current one trains. A task whose ``downlink`` is ``int8`` or ``topk`` asks for a
delta from the held version (``?base=<version>&codec=...``); the AF answers a codec body with
``Fl5g-Delta-Base`` (added to the copy), or the full model when the UE is too far behind.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

from flcore import protocol as proto
from flcore.codecs import decode
from flcore.models import model_spec
from flcore.protocol import Task
from flcore.wire import bytes_to_state

DELTA_CODECS = ("int8", "topk")


@dataclass
class HeldModel:
    job_id: str | None = None
    version: int | None = None
    state: dict[str, torch.Tensor] | None = None
    etag: str | None = None

    def current(self, task: Task) -> bool:
        return self.state is not None and self.job_id == task.job_id and self.version == task.model_version

    def request(self, task: Task) -> tuple[dict[str, str], dict[str, str]]:
        """Query parameters and headers of the download for ``task``."""
        if self.state is None or self.job_id != task.job_id:
            return {}, {}
        if task.downlink in DELTA_CODECS and self.version is not None:
            return {"base": str(self.version), "codec": task.downlink}, {}
        return {}, ({"If-None-Match": self.etag} if self.etag else {})

    def take(self, task: Task, body: bytes | bytearray, headers: Mapping[str, str]) -> bool:
        """Update the copy from a 200 answer; True when it was a delta."""
        version = int(headers.get(proto.MODEL_VERSION, task.model_version))
        base = headers.get(proto.DELTA_BASE)
        if base is not None and self.state is not None and int(base) == self.version:
            floats = {k: v for k, v in self.state.items() if v.is_floating_point()}
            step = decode(body, model_spec(floats))
            # a new dict of new tensors: a training that copied the old ones is not disturbed
            self.state = {k: (v + step[k] if k in step else v) for k, v in self.state.items()}
            delta = True
        else:
            self.state = bytes_to_state(body)
            delta = False
        self.job_id, self.version = task.job_id, version
        self.etag = None if delta else headers.get("etag")
        return delta

    def not_modified(self, task: Task) -> None:
        """A 304: the copy is the task's version."""
        self.version = task.model_version
