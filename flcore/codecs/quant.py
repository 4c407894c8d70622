"""Symmetric int8 quantisation with one fp32 scale per block (or per tensor), chunked both ways.

A value ``x`` in a block whose largest magnitude is ``m`` travels as ``q = round(x / s)`` with
``s = m / 127``, so ``|x - q * s| <= s / 2`` (up to fp32 rounding) and ``q`` stays in [-127, 127].
Both directions work through a caller-owned chunk buffer so that no full-size temporary is made.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from flcore.codecs.base import CHUNK

F32_MAX = float(torch.finfo(torch.float32).max)


def chunks(n: int) -> Iterator[tuple[int, int]]:
    """Chunk bounds over ``n`` elements; a chunk may cut a block, ``_per_block`` copes."""
    for a in range(0, n, CHUNK):
        yield a, min(n, a + CHUNK)


def scales_into(x: torch.Tensor, block: int, out: torch.Tensor) -> None:
    """Per-block ``max|x| / 127`` of the flat ``x`` into ``out``: min/max reductions, no |x| temporary."""
    n = x.numel()
    if n == 0:
        return
    if block == 0:
        lo, hi = torch.aminmax(x)
        out[0] = torch.maximum(hi, -lo) / 127.0
        return
    full = n // block
    if full:
        lo, hi = torch.aminmax(x[: full * block].view(full, block), dim=1)
        torch.maximum(hi, lo.neg_(), out=out[:full]).div_(127.0)
    if n > full * block:
        lo, hi = torch.aminmax(x[full * block :])
        out[full] = torch.maximum(hi, -lo) / 127.0


def _segments(a: int, m: int, block: int) -> Iterator[tuple[int, int, int, int]]:
    """Split elements ``[a, a + m)`` into runs (start, stop, first block, block count) of one scale or of
    whole blocks: a head that ends a block, the whole blocks, a tail that starts one."""
    if block == 0:
        yield 0, m, 0, 0
        return
    pos, end = a, a + m
    head = min(end, -(-pos // block) * block)
    if head > pos:
        yield pos - a, head - a, pos // block, 0
        pos = head
    full = (end - pos) // block
    if full:
        yield pos - a, pos - a + full * block, pos // block, full
        pos += full * block
    if end > pos:
        yield pos - a, end - a, pos // block, 0


def _per_block(buf: torch.Tensor, scales: torch.Tensor, block: int, a: int, inverse: bool) -> None:
    """Multiply (or divide) ``buf``, the elements from ``a`` on, by their blocks' scales."""
    for lo, hi, b0, full in _segments(a, buf.numel(), block):
        v = buf[lo:hi].view(full, block) if full else buf[lo:hi]
        s = scales[b0 : b0 + full].unsqueeze(1) if full else scales[b0]
        if inverse:
            # An all-zero block has scale 0: divide by 1 there instead (its values are all 0).
            v.div_(torch.where(s > 0, s, torch.ones_like(s)))
        else:
            v.mul_(s)


def scale_chunk(buf: torch.Tensor, scales: torch.Tensor, block: int, a: int) -> torch.Tensor:
    """Multiply ``buf``, the elements from ``a`` on, by their blocks' scales, in place."""
    _per_block(buf, scales, block, a, inverse=False)
    return buf


def quantize_into(x: torch.Tensor, q: torch.Tensor, scales: torch.Tensor, block: int,
                  tmp: torch.Tensor) -> None:
    """Quantise the flat fp32 ``x`` into the flat int8 ``q`` and ``scales``; ``tmp`` is a chunk buffer."""
    scales_into(x, block, scales)
    for a, b in chunks(x.numel()):
        buf = tmp[: b - a]
        buf.copy_(x[a:b])
        _per_block(buf, scales, block, a, inverse=True)
        q[a:b].copy_(buf.round_().clamp_(-127, 127))


def dequantize_chunk(q: torch.Tensor, scales: torch.Tensor, block: int, a: int, b: int,
                     out: torch.Tensor) -> torch.Tensor:
    """``q[a:b] * scale`` as fp32 into ``out[:b-a]``."""
    buf = out[: b - a]
    buf.copy_(q[a:b])
    _per_block(buf, scales, block, a, inverse=False)
    return buf


def check_scales(scales: torch.Tensor) -> bool:
    """Scales must be finite, >= 0, and small enough that ``128 * s`` stays finite in fp32 (one min/max
    scan, no mask: NaN fails both comparisons)."""
    if scales.numel() == 0:
        return True
    lo, hi = torch.aminmax(scales)
    return float(lo) >= 0 and float(hi) <= F32_MAX / 128
