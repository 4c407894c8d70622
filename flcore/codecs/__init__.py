"""Update codecs shared by the UE's encoder and the AF's decoder; the wire format is a safetensors body.

Codecs (``CODECS``): ``none`` (fp32 deltas), ``int8`` (symmetric, per-tensor or per-block scales) and
``topk`` (DGC: top-k with error feedback, momentum correction and density warm-up). ``decode`` and
``decode_into`` accept any bytes: whatever is wrong with a body, they raise ``CodecError`` naming the
field at fault, after allocating nothing larger than a chunk buffer, and ``decode_into`` checks the whole
body before it touches the accumulator. Problems on the caller's side (a bad spec or accumulator, an
unknown option) raise ``ValueError``/``TypeError`` instead, so that only ``CodecError`` blames the sender.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

from flcore.codecs import dense, topk
from flcore.codecs.base import (
    CHUNK,
    CODEC_VERSIONS,
    CodecError,
    DecodeInfo,
    EncoderState,
    check_acc,
    check_spec,
    check_update,
    pop_opts,
    spec_numel,
)
from flcore.codecs.topk import warmup_density
from flcore.codecs.wire import parse
from flcore.models import ModelSpec

CODECS = ("none", "int8", "topk")

__all__ = [
    "CHUNK",
    "CODECS",
    "CODEC_VERSIONS",
    "CodecError",
    "DecodeInfo",
    "EncoderState",
    "decode",
    "decode_into",
    "encode",
    "encoded_size",
    "peek_codec",
    "validate",
    "warmup_density",
]

_DENSE_OPTS: dict[str, dict[str, Any]] = {"none": {}, "int8": {"block": 0}}


def _codec(codec: str) -> str:
    if codec not in CODECS:
        raise ValueError(f"unknown codec {codec!r}; known: {', '.join(CODECS)}")
    return codec


def encode(update: Mapping[str, torch.Tensor], *, codec: str, byte_budget: int | None = None,
           density: float | None = None, state: EncoderState | None = None, **opts: Any) -> bytes:
    """Encode an update (a delta: local minus global, per floating tensor) as one body.

    ``byte_budget`` caps the body size: ``topk`` lowers its density until the body fits, ``none`` and
    ``int8`` raise ``CodecError`` when over. ``topk`` takes ``density`` (the target; with ``state`` it
    warms up from 25 % to it), ``state`` (residuals and momentum; without it there is no error feedback)
    and options ``mode`` (``global``/``tensor``), ``values`` (``f32``/``int8``), ``block`` (int8 values per
    scale, 256), ``momentum`` (0.0), ``warmup`` (True), ``seed`` (0). ``int8`` takes ``block`` (0: one
    scale per tensor); they ignore ``density`` and ``state``, so one call site serves every codec.
    A refused update leaves ``state`` untouched.
    """
    _codec(codec)
    if byte_budget is not None and byte_budget < 0:
        raise ValueError(f"byte_budget must be >= 0, got {byte_budget}")
    check_update(update)
    if codec == "topk":
        o = pop_opts(opts, topk.OPTIONS, codec)
        topk.check_options(o)
        return topk.encode(update, byte_budget, density, state, o)
    return dense.encode(update, codec, byte_budget, **pop_opts(opts, _DENSE_OPTS[codec], codec))


def encoded_size(spec: ModelSpec, *, codec: str, density: float | None = None, **opts: Any) -> int:
    """Body size for a model: exact for ``none`` and ``int8``, a tight upper bound for ``topk``."""
    _codec(codec)
    check_spec(spec)
    if codec != "topk":
        return dense.size(spec, codec, **pop_opts(opts, _DENSE_OPTS[codec], codec))
    o = pop_opts(opts, topk.OPTIONS, codec)
    topk.check_options(o)
    if density is None or not 0.0 < density <= 1.0:
        raise ValueError(f"topk sizes need a density in (0, 1], got {density!r}")
    n = spec_numel(spec)
    return topk.size_bound(min(n, math.ceil(density * n)), n, str(o["values"]), int(o["block"]))


def peek_codec(body: bytes | bytearray | memoryview) -> str:
    """The codec a body declares (the header is parsed and checked, the data is not)."""
    return _codec_of(parse(body).metadata)


def _codec_of(meta: Mapping[str, str]) -> str:
    codec = meta.get("codec")
    if codec not in CODECS:
        raise CodecError(f"unknown codec {codec!r}", param="__metadata__.codec")
    if meta.get("codec_version") != str(CODEC_VERSIONS[codec]):
        raise CodecError(f"unsupported codec_version {meta.get('codec_version')!r}",
                         param="__metadata__.codec_version")
    return codec


def decode_into(body: bytes | bytearray | memoryview, spec: ModelSpec, acc: Mapping[str, torch.Tensor],
                weight: float, *, max_norm: float | None = None) -> DecodeInfo:
    """Check a body against ``spec``, then add ``weight * update`` into ``acc`` (contiguous fp32 CPU
    tensors, one per spec name) in chunks. The whole body is checked first (names, shapes, dtypes,
    finite values, index bounds, ``max_norm`` on the unweighted L2 norm), so a refused update leaves
    ``acc`` as it was."""
    check_spec(spec)
    check_acc(spec, acc)
    return _decode(body, spec, acc, weight, max_norm)


def _decode(body: bytes | bytearray | memoryview, spec: ModelSpec, acc: Mapping[str, torch.Tensor] | None,
            weight: float, max_norm: float | None) -> DecodeInfo:
    if not math.isfinite(weight):
        raise ValueError(f"weight must be finite, got {weight}")
    b = parse(body, max_tensors=2 * len(spec) + 8)
    codec = _codec_of(b.metadata)
    if codec == "topk":
        nnz, norm = topk.decode_into(b, spec, acc, weight, max_norm)
    else:
        nnz, norm = dense.decode_into(b, codec, spec, acc, weight, max_norm)
    return DecodeInfo(codec, CODEC_VERSIONS[codec], len(b.mv), spec_numel(spec), nnz, norm)


def validate(body: bytes | bytearray | memoryview, spec: ModelSpec, *, max_norm: float | None = None
             ) -> DecodeInfo:
    """Every check of ``decode_into``, without adding anything anywhere."""
    check_spec(spec)
    return _decode(body, spec, None, 1.0, max_norm)


def decode(body: bytes | bytearray | memoryview, spec: ModelSpec) -> dict[str, torch.Tensor]:
    """The dense fp32 update, checked like ``decode_into``."""
    check_spec(spec)
    out = {n: torch.zeros(ts.shape) for n, ts in spec.items()}
    decode_into(body, spec, out, 1.0)
    return out
