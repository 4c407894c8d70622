"""The dense codecs: ``none`` (fp32 deltas) and ``int8`` (symmetric, per-tensor or per-block scales).

Wire layout, one safetensors body:

- ``none``: one ``F32`` tensor per model tensor, under the model's name and shape.
  Metadata ``codec=none``, ``codec_version=1``.
- ``int8``: per model tensor, ``<name>`` as ``I8`` in the model's shape, and ``<name>:scale`` as ``F32``
  of shape ``[ceil(numel / block)]`` (``[1]`` when ``block`` is 0, i.e. one scale per tensor). Metadata
  ``codec=int8``, ``codec_version=1``, ``block=<int>``. Value = ``q * scale`` of its block.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch

from flcore.codecs import quant
from flcore.codecs.base import CHUNK, CODEC_VERSIONS, CodecError, nblocks, sqnorm
from flcore.codecs.wire import Body, Entry, Writer, body_size
from flcore.models import ModelSpec

SCALE = ":scale"


def _meta(codec: str, **extra: str) -> dict[str, str]:
    return {"codec": codec, "codec_version": str(CODEC_VERSIONS[codec]), **extra}


def _entries(shapes: Mapping[str, tuple[int, ...]], codec: str, block: int) -> list[Entry]:
    if codec == "none":
        return [Entry(n, "F32", s) for n, s in sorted(shapes.items())]
    out: list[Entry] = []
    for n, s in sorted(shapes.items()):
        numel = math.prod(s)
        out += [Entry(n, "I8", s), Entry(n + SCALE, "F32", (nblocks(numel, block),))]
    if len({e.name for e in out}) != len(out):
        raise CodecError(f"a tensor name ends in {SCALE!r} and collides with a scale", param="body")
    return out


def _check_block(block: object) -> int:
    if not isinstance(block, int) or isinstance(block, bool) or block < 0:
        raise ValueError(f"int8 block must be an int >= 0 (0: one scale per tensor), got {block!r}")
    return block


def size(spec: ModelSpec, codec: str, block: int = 0) -> int:
    meta = _meta(codec, block=str(_check_block(block))) if codec == "int8" else _meta(codec)
    return body_size(_entries({n: ts.shape for n, ts in spec.items()}, codec, block), meta)


def encode(update: Mapping[str, torch.Tensor], codec: str, byte_budget: int | None, block: int = 0) -> bytes:
    block = _check_block(block)
    meta = _meta(codec, block=str(block)) if codec == "int8" else _meta(codec)
    entries = _entries({n: tuple(t.shape) for n, t in update.items()}, codec, block)
    need = body_size(entries, meta)
    if byte_budget is not None and need > byte_budget:
        raise CodecError(f"{codec} update needs {need} bytes, over the budget of {byte_budget}",
                         param="byte_budget")
    w = Writer(entries, meta)
    if codec == "none":
        for name, t in update.items():
            w.put(name, t if t.dtype == torch.float32 and t.is_contiguous() else t.float().contiguous())
        return w.finish()
    tmp = torch.empty(min(CHUNK, max((t.numel() for t in update.values()), default=0)))
    for name, t in update.items():
        quant.quantize_into(t.reshape(-1), w.tensor(name), w.tensor(name + SCALE), block, tmp)
    return w.finish()


def decode_into(body: Body, codec: str, spec: ModelSpec, acc: Mapping[str, torch.Tensor] | None,
                weight: float, max_norm: float | None) -> tuple[int, float]:
    """Check the body against ``spec``; then, if ``acc`` is given, add ``weight * update`` into it."""
    block = body.meta_int("block", 0, 1 << 62) if codec == "int8" else 0
    expected: set[str] = set()
    for name, ts in spec.items():
        if codec == "none":
            body.expect(name, "F32", ts.shape)
        else:
            body.expect(name, "I8", ts.shape)
            body.expect(name + SCALE, "F32", (nblocks(ts.numel, block),))
            expected.add(name + SCALE)
        expected.add(name)
    body.only(expected)
    if codec == "none":
        return _none_into(body, spec, acc, weight, max_norm)
    return _int8_into(body, spec, acc, weight, max_norm, block)


def _reject_norm(norm: float, max_norm: float | None, where: str) -> None:
    if not math.isfinite(norm):
        raise CodecError(f"update tensor {where!r} has non-finite values", param=where)
    if max_norm is not None and norm > max_norm:
        raise CodecError(f"update norm {norm:.6g} exceeds the bound {max_norm:.6g}", param="norm")


def _none_into(body: Body, spec: ModelSpec, acc: Mapping[str, torch.Tensor] | None, weight: float,
               max_norm: float | None) -> tuple[int, float]:
    sq = 0.0
    for name in spec:
        # The norm pass doubles as the finiteness check: NaN or inf anywhere makes it non-finite.
        tsq = sqnorm(body.torch(name))
        _reject_norm(tsq, None, name)
        sq += tsq
    norm = math.sqrt(sq)
    _reject_norm(norm, max_norm, "norm")
    if acc is not None:
        for name in spec:
            if spec[name].numel:
                acc[name].view(-1).add_(body.torch(name), alpha=weight)
    return sum(ts.numel for ts in spec.values()), norm


def _int8_into(body: Body, spec: ModelSpec, acc: Mapping[str, torch.Tensor] | None, weight: float,
               max_norm: float | None, block: int) -> tuple[int, float]:
    for name in spec:
        if not quant.check_scales(body.torch(name + SCALE)):
            raise CodecError(f"scales of {name!r} are negative, non-finite or too large",
                             param=name + SCALE)
    tmp = torch.empty(min(CHUNK, max((ts.numel for ts in spec.values()), default=0)))

    def run(add: bool) -> float:
        sq = 0.0
        for name in spec:
            q, sc = body.torch(name), body.torch(name + SCALE)
            dst = acc[name].view(-1) if add and acc is not None else None
            for a, b in quant.chunks(q.numel()):
                v = quant.dequantize_chunk(q, sc, block, a, b, tmp)
                sq += sqnorm(v)
                if dst is not None:
                    dst[a:b].add_(v, alpha=weight)
        return math.sqrt(sq)

    # Scales are bounded, so values are finite; only a norm bound needs a pass before acc is touched.
    if max_norm is not None or acc is None:
        norm = run(add=False)
        _reject_norm(norm, max_norm, "norm")
        if acc is not None:
            run(add=True)
    else:
        norm = run(add=True)
    return sum(ts.numel for ts in spec.values()), norm
