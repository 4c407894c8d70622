"""Types shared by every codec: the error, the decode report, the encoder state, the option checks."""

from __future__ import annotations

import hashlib
import math
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from flcore.models import ModelSpec

CODEC_VERSIONS = {"none": 1, "int8": 1, "topk": 2}
"""Wire format version per codec; a body declaring another version is refused. ``topk`` 2: Rice-coded
indices and ``sign`` values (1 had fixed-width gaps with patched exceptions)."""
CHUNK = 1 << 20
"""Elements per decode/encode chunk: 4 MiB of fp32, small enough for the cache, large enough to amortise."""

# torch warns (once per process) when it wraps a read-only buffer such as ``bytes``. The decoders only
# ever read through those views, so the warning is consumed here once, with the warning silenced,
# rather than per call: ``warnings.catch_warnings`` is not thread-safe and decoders run in threads.
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    torch.frombuffer(b"\0", dtype=torch.uint8)


class CodecError(ValueError):
    """An update body or an update that a codec refuses; ``param`` names the tensor or field at fault."""

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class DecodeInfo:
    """What ``decode_into`` learned about an accepted update (norm and counts are before weighting)."""

    codec: str
    codec_version: int
    nbytes: int
    numel: int
    nnz: int
    l2_norm: float

    @property
    def density(self) -> float:
        return self.nnz / self.numel if self.numel else 0.0


@dataclass
class EncoderState:
    """A UE's codec memory across rounds: top-k residuals and momentum per tensor, and the round count.

    ``residual`` and ``momentum`` are filled on first use; ``round`` counts successful encodes and drives
    the density warm-up.
    """

    residual: dict[str, torch.Tensor] = field(default_factory=dict)
    momentum: dict[str, torch.Tensor] = field(default_factory=dict)
    round: int = 0


def spec_numel(spec: ModelSpec) -> int:
    return sum(ts.numel for ts in spec.values())


def spec_fingerprint(shapes: Iterable[tuple[str, tuple[int, ...]]]) -> str:
    """A short digest of names and shapes in canonical (sorted-name) order, to catch model mismatches."""
    h = hashlib.sha256()
    for name, shape in sorted(shapes):
        h.update(f"{name}:{','.join(map(str, shape))};".encode())
    return h.hexdigest()[:16]


def check_spec(spec: ModelSpec) -> None:
    """A spec is the caller's, not the sender's: a bad one is a programming error, not a CodecError."""
    for name, ts in spec.items():
        if not isinstance(name, str):
            raise TypeError(f"spec names must be str, got {name!r}")
        if not ts.dtype.is_floating_point:
            raise ValueError(f"spec tensor {name!r} has non-floating dtype {ts.dtype}")


def check_acc(spec: ModelSpec, acc: Mapping[str, torch.Tensor]) -> None:
    for name, ts in spec.items():
        t = acc.get(name)
        if t is None:
            raise ValueError(f"accumulator lacks tensor {name!r}")
        if t.dtype != torch.float32 or tuple(t.shape) != ts.shape or not t.is_contiguous() or t.is_cuda:
            raise ValueError(
                f"accumulator {name!r} must be a contiguous CPU float32 tensor of shape {ts.shape}, "
                f"got {t.dtype} {tuple(t.shape)}"
            )


def check_update(update: Mapping[str, torch.Tensor]) -> None:
    """Floating, CPU, finite: cheap min/max reductions find NaN and inf without a full-size mask."""
    for name, t in update.items():
        if not isinstance(t, torch.Tensor) or not t.is_floating_point():
            raise CodecError(f"update tensor {name!r} is not a floating tensor", param=name)
        if t.is_cuda:
            raise CodecError(f"update tensor {name!r} is not on the CPU", param=name)
        lo, hi = torch.aminmax(t) if t.numel() else (torch.zeros(()), torch.zeros(()))
        if not (math.isfinite(float(lo)) and math.isfinite(float(hi))):
            raise CodecError(f"update tensor {name!r} has non-finite values", param=name)


def sqnorm(x: torch.Tensor) -> float:
    """Squared L2 norm of a flat fp32 tensor, NaN or inf if any value is. fp32 norms over millions of
    elements drift by 1e-5; rows of 1024 reduced in fp32, then summed in float64, stay near 1e-9."""
    n = x.numel()
    r = n // 1024 * 1024
    s = 0.0
    if r:
        s += float(torch.linalg.vector_norm(x[:r].view(-1, 1024), dim=1).double().square().sum())
    if n > r:
        s += float(torch.linalg.vector_norm(x[r:])) ** 2
    return s


def pop_opts(opts: dict[str, Any], allowed: Mapping[str, Any], codec: str) -> dict[str, Any]:
    unknown = set(opts) - set(allowed)
    if unknown:
        raise TypeError(f"codec {codec!r} takes no option(s) {', '.join(sorted(unknown))}")
    return {k: opts.get(k, v) for k, v in allowed.items()}


def nblocks(n: int, block: int) -> int:
    """Scale count for ``n`` values: one per ``block`` values, or one per tensor when ``block`` is 0."""
    if n == 0:
        return 0
    return 1 if block == 0 else -(-n // block)
