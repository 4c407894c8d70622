"""``topk``: Deep Gradient Compression (Lin et al., ICLR 2018) for FL update deltas.

The encoder keeps, per UE, a residual ``v`` and (with ``momentum > 0``) a velocity ``u`` per tensor:
``u = m * u + delta; v = v + u`` (momentum correction), sends the ``k`` entries of ``v`` largest in
magnitude, subtracts what it sent from ``v`` (local error feedback: nothing is ever dropped, only
delayed) and zeroes ``u`` there (momentum factor masking). The density warms up from 25 % by a factor of
4 per round down to its target (25 %, 6.25 %, 1.56 %, ...). ``momentum`` defaults to 0: an FL delta
already carries the local optimiser's momentum, and a client-side factor would act as server momentum.

Wire layout (safetensors; indices address the update flattened tensor by tensor in sorted-name order):

- ``topk.val``: ``F32 [k]``, or ``I8 [k]`` with ``topk.val:scale`` ``F32 [ceil(k / block)]``.
- ``topk.idx``: the low ``width`` bits of each gap as ``U8``/``U16``/``U32 [k]``, where the gaps are
  ``idx[0] + 1, idx[1] - idx[0], ...`` (all >= 1: indices strictly increase).
- ``topk.exc_pos``, ``topk.exc_hi``: ``U32 [e]``: gaps ``>= 2**width`` (patched exceptions): position in the
  gap list and the high bits, ``gap = lo + (hi << width)``.
- Metadata: ``codec=topk``, ``codec_version=1``, ``numel`` (model size), ``spec`` (digest of names and
  shapes), ``width`` (8, 16 or 32, whichever gives the smallest body), ``values`` (``f32``/``int8``) and,
  for int8 values, ``block``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from flcore.codecs import quant
from flcore.codecs.base import (
    CHUNK,
    CODEC_VERSION,
    CodecError,
    EncoderState,
    nblocks,
    spec_fingerprint,
    sqnorm,
)
from flcore.codecs.wire import Body, Entry, Writer, body_size, header_bound
from flcore.models import ModelSpec

OPTIONS: dict[str, Any] = {"mode": "global", "values": "f32", "block": 256, "momentum": 0.0, "warmup": True,
                           "seed": 0}
MAX_NUMEL = 1 << 40
SAMPLE = 1 << 18
"""Magnitudes sampled to guess the top-k threshold; the selection itself is then exact."""
_VAL, _SCALE, _IDX, _EPOS, _EHI = "topk.val", "topk.val:scale", "topk.idx", "topk.exc_pos", "topk.exc_hi"
_UDT = {8: "U8", 16: "U16", 32: "U32"}


def warmup_density(round_: int, target: float, *, start: float = 0.25, factor: float = 0.25) -> float:
    """DGC's exponential warm-up: ``start * factor**round`` until it reaches ``target``."""
    return max(target, start * factor**round_)


def _layout(shapes: Mapping[str, tuple[int, ...]]) -> tuple[list[str], list[int], int]:
    names = sorted(shapes)
    offsets, pos = [], 0
    for n in names:
        offsets.append(pos)
        pos += math.prod(shapes[n])
    if pos >= MAX_NUMEL:
        raise ValueError(f"topk addresses at most {MAX_NUMEL} elements, the model has {pos}")
    return names, offsets, pos


def _meta(numel: int, fp: str, width: int, values: str, block: int) -> dict[str, str]:
    m = {"codec": "topk", "codec_version": str(CODEC_VERSION), "numel": str(numel), "spec": fp,
         "width": str(width), "values": values}
    if values == "int8":
        m["block"] = str(block)
    return m


def _entries(k: int, e: int, width: int, values: str, block: int) -> list[Entry]:
    out = [Entry(_VAL, "F32" if values == "f32" else "I8", (k,))]
    if values == "int8":
        out.append(Entry(_SCALE, "F32", (nblocks(k, block),)))
    return out + [Entry(_IDX, _UDT[width], (k,)), Entry(_EPOS, "U32", (e,)), Entry(_EHI, "U32", (e,))]


def size_bound(k: int, numel: int, values: str, block: int) -> int:
    """Bytes that a body of ``k`` entries never exceeds, whatever the indices (``encode`` picks the
    cheapest width, which costs no more than width 16 or 32 here; at most ``numel >> w`` gaps reach
    ``2**w``, as the gaps sum to at most ``numel``)."""
    e16, e32 = min(k, numel >> 16), min(k, numel >> 32)
    vbytes = 4 * k if values == "f32" else k + 4 * nblocks(k, block)
    max_data = vbytes + 4 * k + 8 * e16
    worst = _entries(k, e16, 32, values, block)
    head = header_bound(worst, _meta(numel, "0" * 16, 32, values, block), max_data)
    return head + vbytes + min(2 * k + 8 * e16, 4 * k + 8 * e32)


def size_floor(k: int, numel: int, values: str, block: int) -> int:
    """About the least a body of ``k`` entries needs (one byte per index, no exceptions): a ceiling for
    the search of the largest ``k`` that fits a budget."""
    return body_size(_entries(k, 0, 8, values, block), _meta(numel, "0" * 16, 8, values, block))


def max_k(budget: int, numel: int, values: str, block: int, *, floor: bool = False) -> int:
    """The largest ``k`` whose size bound (or, with ``floor``, whose least size) fits ``budget``; -1 when
    not even an empty body fits."""
    size = size_floor if floor else size_bound
    lo, hi = -1, numel
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if size(mid, numel, values, block) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return lo


def check_options(o: Mapping[str, Any]) -> None:
    if o["mode"] not in ("global", "tensor"):
        raise ValueError(f"topk mode must be 'global' or 'tensor', got {o['mode']!r}")
    if o["values"] not in ("f32", "int8"):
        raise ValueError(f"topk values must be 'f32' or 'int8', got {o['values']!r}")
    if not isinstance(o["block"], int) or o["block"] < 0:
        raise ValueError(f"topk block must be an int >= 0, got {o['block']!r}")
    if not 0.0 <= float(o["momentum"]) < 1.0:
        raise ValueError(f"topk momentum must be in [0, 1), got {o['momentum']!r}")


# -- selection ------------------------------------------------------------------------------------


def _above(parts: Sequence[tuple[int, torch.Tensor]], t: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Global indices and values of the entries with ``|v| >= t`` (``> 0`` when ``t`` is 0), chunked.

    numpy rather than torch here: single-threaded ``flatnonzero`` is ~10x faster than ``Tensor.nonzero``
    on a 1M chunk, and torch's two-thread kernels stall badly when other processes share the cores.
    """
    buf = np.empty(CHUNK, dtype=np.float32)
    mask = np.empty(CHUNK, dtype=np.bool_)
    idx: list[np.ndarray[Any, Any]] = []
    val: list[np.ndarray[Any, Any]] = []
    for off, flat in parts:
        for a in range(0, flat.numel(), CHUNK):
            piece = flat[a : a + CHUNK].detach()
            c = (piece if piece.dtype == torch.float32 else piece.float()).numpy()
            n = c.size
            np.abs(c, out=buf[:n])
            if t > 0:
                np.greater_equal(buf[:n], t, out=mask[:n])
            else:
                np.greater(buf[:n], 0, out=mask[:n])
            nz = np.flatnonzero(mask[:n])
            idx.append(nz + (off + a))
            val.append(c[nz])
    if not idx:
        return torch.empty(0, dtype=torch.int64), torch.empty(0)
    all_idx = np.concatenate(idx).astype(np.int64, copy=False)
    return torch.from_numpy(all_idx), torch.from_numpy(np.concatenate(val))


def select(parts: Sequence[tuple[int, torch.Tensor]], k: int, gen: torch.Generator
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact top-``k`` nonzeros by magnitude over flat tensors at global offsets, in ascending index order.

    A sampled threshold keeps the candidate set near ``k`` (one chunked pass, no |v| temporary of the
    model's size); a full ``torch.topk`` over a VGG16_BN-sized update takes seconds instead.
    """
    total = sum(p.numel() for _, p in parts)
    if k <= 0 or total == 0:
        return torch.empty(0, dtype=torch.int64), torch.empty(0)
    if total <= SAMPLE:
        sample = torch.cat([p.abs().float() for _, p in parts])
    else:
        picks = []
        for _, p in parts:
            if p.numel() == 0:
                continue
            n = max(1, round(SAMPLE * p.numel() / total))
            picks.append(p[torch.randint(p.numel(), (n,), generator=gen)].abs().float())
        sample = torch.cat(picks)
    sample = torch.sort(sample, descending=True).values
    # The expected rank of the k-th largest in the sample, plus four standard deviations: the first
    # threshold nearly always yields at least k candidates, and rarely many more.
    expect = k * sample.numel() / total
    rank = math.ceil(expect + 4 * math.sqrt(expect)) + 8
    while True:
        t = float(sample[rank - 1]) if rank <= sample.numel() else 0.0
        idx, val = _above(parts, t)
        if idx.numel() >= k or t == 0.0:
            break
        rank *= 4
    n = idx.numel()
    if n > k:
        if n - k < k:  # dropping the few smallest is cheaper than keeping the many largest
            keep = torch.ones(n, dtype=torch.bool)
            keep[torch.topk(val.abs(), n - k, largest=False, sorted=False).indices] = False
        else:
            keep = torch.zeros(n, dtype=torch.bool)
            keep[torch.topk(val.abs(), k, sorted=False).indices] = True
        idx, val = idx[keep], val[keep]
    return idx, val


def _split(k: int, sizes: Sequence[int]) -> list[int]:
    """``k`` spread over tensors in proportion to their sizes (largest remainders first)."""
    total = sum(sizes)
    if total == 0:
        return [0] * len(sizes)
    base = [k * n // total for n in sizes]
    order = sorted(range(len(sizes)), key=lambda i: -((k * sizes[i]) % total))
    for i in order[: k - sum(base)]:
        base[i] = min(sizes[i], base[i] + 1)
    return base


# -- encode ---------------------------------------------------------------------------------------


def _state_tensors(store: dict[str, torch.Tensor], update: Mapping[str, torch.Tensor]
                   ) -> dict[str, torch.Tensor]:
    if not store:
        store.update({n: torch.zeros(t.shape) for n, t in update.items()})
    if set(store) != set(update) or any(tuple(store[n].shape) != tuple(t.shape) for n, t in update.items()):
        raise ValueError("encoder state was built for another model (names or shapes differ)")
    return store


def encode(update: Mapping[str, torch.Tensor], byte_budget: int | None, density: float | None,
           state: EncoderState | None, o: Mapping[str, Any]) -> bytes:
    shapes = {n: tuple(t.shape) for n, t in update.items()}
    names, offsets, total = _layout(shapes)
    values, block = str(o["values"]), int(o["block"])
    if density is None and byte_budget is None:
        raise ValueError("topk needs a density, a byte_budget, or both")
    if density is not None and not 0.0 < density <= 1.0:
        raise ValueError(f"topk density must be in (0, 1], got {density!r}")
    k = total
    if density is not None:
        d = warmup_density(state.round, density) if state is not None and o["warmup"] else density
        k = min(total, math.ceil(d * total))
    fit_from = -1
    if byte_budget is not None:
        kb = max_k(byte_budget, total, values, block)
        if kb < min(1, total):
            raise CodecError(f"even a one-entry topk update exceeds the budget of {byte_budget} bytes",
                             param="byte_budget")
        if k > kb and o["mode"] == "global":
            # The bound assumes the costliest indices; real ones often cost less, so select up to the most
            # that could fit and then keep the largest prefix (by magnitude) that does.
            fit_from, k = kb, min(k, max_k(byte_budget, total, values, block, floor=True))
        else:
            k = min(k, kb)
    if k >= 1 << 32:
        raise CodecError(f"topk sends fewer than 2**32 entries, asked for {k}", param="density")

    # Everything that can refuse the update has run: from here on the state changes.
    if state is None:
        acc = {n: t.reshape(-1) for n, t in update.items()}
    else:
        res = _state_tensors(state.residual, update)
        m = float(o["momentum"])
        if m > 0:
            mom = _state_tensors(state.momentum, update)
            for n, t in update.items():
                mom[n].mul_(m).add_(t)
                res[n].add_(mom[n])
        else:
            for n, t in update.items():
                res[n].add_(t)
        acc = {n: res[n].view(-1) for n in names}
    fp = spec_fingerprint(shapes.items())
    gen = torch.Generator().manual_seed(int(o["seed"]) * 1_000_003 + (state.round if state else 0))
    parts = [(off, acc[n]) for n, off in zip(names, offsets, strict=True)]
    if o["mode"] == "global":
        idx, val = select(parts, k, gen)
        if fit_from >= 0 and byte_budget is not None:
            idx, val = _fit(idx, val, fit_from, byte_budget, total, fp, values, block)
    else:
        ks = _split(k, [p.numel() for _, p in parts])
        sel = [select([p], kt, gen) for p, kt in zip(parts, ks, strict=True)]
        idx = torch.cat([s[0] for s in sel]) if sel else torch.empty(0, dtype=torch.int64)
        val = torch.cat([s[1] for s in sel]) if sel else torch.empty(0)
    body, sent = _write(idx, val, total, fp, values, block)
    if state is not None:
        bounds = torch.tensor(offsets[1:], dtype=torch.int64)
        cuts = [0, *torch.searchsorted(idx, bounds).tolist(), idx.numel()]
        for i, n in enumerate(names):
            a, b = cuts[i], cuts[i + 1]
            if b > a:
                local = idx[a:b] - offsets[i]
                acc[n].index_add_(0, local, sent[a:b], alpha=-1.0)
                if n in state.momentum:
                    state.momentum[n].view(-1).index_fill_(0, local, 0.0)
        state.round += 1
    return body


def _sized(gaps: np.ndarray[Any, Any], total: int, fp: str, values: str, block: int) -> tuple[int, int]:
    """The exact body size for these gaps at the cheapest width, and that width."""
    best = (0, 0)
    for w in (8, 16, 32):
        e = int(np.count_nonzero(gaps >> w))
        n = body_size(_entries(gaps.size, e, w, values, block), _meta(total, fp, w, values, block))
        if best[1] == 0 or n < best[0]:
            best = (n, w)
    return best


def _fit(idx: torch.Tensor, val: torch.Tensor, k_safe: int, budget: int, total: int, fp: str, values: str,
         block: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The largest top-magnitude prefix of the selection (at least ``k_safe``, which fits by the bound)
    whose exact body fits ``budget``; each probe is a linear pass over the selection, no sort."""
    if idx.numel() <= k_safe:
        return idx, val
    rank = torch.empty(idx.numel(), dtype=torch.int64)
    rank[torch.sort(val.abs(), descending=True, stable=True).indices] = torch.arange(idx.numel())
    idx_np = idx.numpy()

    def fits(k: int) -> bool:
        sub = idx_np[(rank < k).numpy()]
        return _sized(np.diff(sub, prepend=-1), total, fp, values, block)[0] <= budget

    lo, hi = k_safe, idx.numel()
    if not fits(hi):
        while hi - lo > max(1, lo // 1000):  # within 0.1 % of the best k is close enough
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if fits(mid) else (lo, mid - 1)
        hi = lo
    keep = rank < hi
    return idx[keep], val[keep]


def _write(idx: torch.Tensor, val: torch.Tensor, total: int, fp: str, values: str, block: int
           ) -> tuple[bytes, torch.Tensor]:
    """The body, and the values as the decoder will see them (for the residual)."""
    k = idx.numel()
    gaps = np.diff(idx.numpy(), prepend=-1)
    _, w = _sized(gaps, total, fp, values, block)
    exc = np.flatnonzero(gaps >> w)
    out = Writer(_entries(k, exc.size, w, values, block), _meta(total, fp, w, values, block))
    np.copyto(out.array(_IDX), gaps, casting="unsafe")  # wraps modulo 2**w: the low bits
    out.array(_EPOS)[:] = exc
    out.array(_EHI)[:] = gaps[exc] >> w
    if values == "f32":
        out.put(_VAL, val)
        return out.finish(), val
    q, scales = out.tensor(_VAL), out.tensor(_SCALE)
    quant.quantize_into(val, q, scales, block, torch.empty(min(CHUNK, k)))
    sent = torch.empty(k)
    for a, b in quant.chunks(k):
        quant.dequantize_chunk(q, scales, block, a, b, sent[a:])
    return out.finish(), sent


# -- decode ---------------------------------------------------------------------------------------


def decode_into(body: Body, spec: ModelSpec, acc: Mapping[str, torch.Tensor] | None, weight: float,
                max_norm: float | None) -> tuple[int, float]:
    names, offsets, total = _layout({n: ts.shape for n, ts in spec.items()})
    if body.meta_int("numel", 0, MAX_NUMEL) != total:
        raise CodecError(f"update is for a model of {body.meta('numel')} elements, not {total}",
                         param="__metadata__.numel")
    if body.meta("spec") != spec_fingerprint((n, ts.shape) for n, ts in spec.items()):
        raise CodecError("update is for a model with other tensor names or shapes", param="__metadata__.spec")
    w = body.meta_int("width", 8, 32)
    values = body.meta("values")
    if w not in _UDT or values not in ("f32", "int8"):
        raise CodecError(f"unknown topk width {w} or values {values!r}", param="__metadata__")
    lo_t = body.expect(_IDX, _UDT[w], None)
    k = lo_t.shape[0] if len(lo_t.shape) == 1 else -1
    if not 0 <= k <= total:
        raise CodecError(f"topk.idx must be 1-D with at most {total} entries", param=_IDX)
    body.expect(_VAL, "F32" if values == "f32" else "I8", (k,))
    expected = {_VAL, _IDX, _EPOS, _EHI}
    block = 0
    if values == "int8":
        block = body.meta_int("block", 0, 1 << 62)
        body.expect(_SCALE, "F32", (nblocks(k, block),))
        expected.add(_SCALE)
        if not quant.check_scales(body.torch(_SCALE)):
            raise CodecError("topk value scales are negative, non-finite or too large", param=_SCALE)
    ep = body.expect(_EPOS, "U32", None)
    e = ep.shape[0] if len(ep.shape) == 1 else -1
    if not 0 <= e <= k:
        raise CodecError("topk.exc_pos must be 1-D with at most one entry per index", param=_EPOS)
    body.expect(_EHI, "U32", (e,))
    body.only(expected)
    epos, ehi = body.np(_EPOS), body.np(_EHI)
    if e and (int(epos[-1]) >= k or (e > 1 and not bool(np.all(epos[1:] > epos[:-1])))):
        raise CodecError("topk exception positions are not increasing within the index list", param=_EPOS)
    if e and (int(ehi.min()) < 1 or int(ehi.max()) > total >> w):
        raise CodecError("topk exception high bits are out of range", param=_EHI)

    dec = _Decoder(body, k, w, values, block, epos, ehi)
    norm = math.sqrt(dec.run(None, names, offsets, total, weight))
    if not math.isfinite(norm):
        raise CodecError("topk values are not finite", param=_VAL)
    if max_norm is not None and norm > max_norm:
        raise CodecError(f"update norm {norm:.6g} exceeds the bound {max_norm:.6g}", param="norm")
    if acc is not None:
        dec.run(acc, names, offsets, total, weight)
    return k, norm


class _Decoder:
    """Walks the entries in chunks: gaps to indices, values to fp32, into reused buffers."""

    def __init__(self, body: Body, k: int, w: int, values: str, block: int, epos: np.ndarray[Any, Any],
                 ehi: np.ndarray[Any, Any]) -> None:
        self.body, self.k, self.w, self.values, self.block = body, k, w, values, block
        self.epos, self.ehi = epos, ehi
        self.lo = body.np(_IDX)
        self.val = body.torch(_VAL)
        self.scales = body.torch(_SCALE) if values == "int8" else torch.empty(0)

    def run(self, acc: Mapping[str, torch.Tensor] | None, names: Sequence[str], offsets: Sequence[int],
            total: int, weight: float) -> float:
        """Without ``acc``: check every index and return the squared norm. With it: add into it."""
        n = min(CHUNK, self.k)
        g = np.empty(n, dtype=np.int64)
        vbuf = torch.empty(n)
        starts = np.asarray(offsets, dtype=np.int64)
        carry, sq = 0, 0.0
        for a, b in quant.chunks(self.k):
            m = b - a
            gaps = g[:m]
            np.copyto(gaps, self.lo[a:b], casting="unsafe")
            i0, i1 = np.searchsorted(self.epos, [a, b])
            if i1 > i0:
                gaps[self.epos[i0:i1].astype(np.int64) - a] += self.ehi[i0:i1].astype(np.int64) << self.w
            if acc is None and int(gaps.min()) < 1:
                raise CodecError("topk indices are not strictly increasing", param=_IDX)
            np.cumsum(gaps, out=gaps)
            gaps += carry - 1  # now the indices
            carry = int(gaps[-1]) + 1
            if acc is None and carry > total:
                raise CodecError(f"topk index {carry - 1} is out of range for {total} elements", param=_IDX)
            v = self.val[a:b] if self.values == "f32" else quant.dequantize_chunk(
                self.val, self.scales, self.block, a, b, vbuf)
            if acc is None:
                sq += sqnorm(v)
                continue
            idx = torch.from_numpy(gaps)
            t0, t1 = np.searchsorted(starts, [gaps[0], gaps[-1]], side="right") - 1
            cuts = np.searchsorted(gaps, starts[t0 + 1 : t1 + 1])
            lo_cut = 0
            for t, hi_cut in zip(range(t0, t1 + 1), [*cuts.tolist(), m], strict=True):
                if hi_cut > lo_cut:
                    acc[names[t]].view(-1).index_add_(
                        0, idx[lo_cut:hi_cut] - offsets[t], v[lo_cut:hi_cut], alpha=weight)
                lo_cut = hi_cut
        return sq
