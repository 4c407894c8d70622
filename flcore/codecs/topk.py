"""``topk``: Deep Gradient Compression (Lin et al., ICLR 2018) for FL update deltas.

The encoder keeps, per UE, a residual ``v`` and (with ``momentum > 0``) a velocity ``u`` per tensor:
``u = m * u + delta; v = v + u`` (momentum correction), sends the ``k`` entries of ``v`` largest in
magnitude, subtracts what it sent from ``v`` (local error feedback: nothing is ever dropped, only
delayed) and zeroes ``u`` there (momentum factor masking). The density warms up from 25 % by a factor of
4 per round down to its target (25 %, 6.25 %, 1.56 %, ...). ``momentum`` defaults to 0: an FL delta
already carries the local optimiser's momentum, and a client-side factor would act as server momentum.

Values travel as ``f32``, as ``int8`` with a scale per ``block`` values, or as ``sign``: one bit each
and, per ``block``, the mean magnitude of the block's values (the ternary values of Sattler et al.'s
Sparse Ternary Compression, 2019). What the quantisation loses stays in the residual like the rest.

Indices are Rice-coded gaps (Golomb coding with a power-of-two parameter, as STC does): the gaps
``idx[0] + 1, idx[1] - idx[0], ...`` are all >= 1; ``x = gap - 1`` splits into ``q = x >> rice`` and
the low ``rice`` bits ``r``. ``r`` is packed at ``rice`` bits per entry; ``q`` is written in unary, ``q``
zeros and a one per entry, in a stream of its own, so that both streams decode with vector operations
(the ones' positions give every ``q`` at once). ``rice`` is chosen per body for the fewest bits; an
index then costs about ``log2(1 / density) + 1.5`` bits, and never more than ``rice + 1`` bits plus
``(numel - k) >> rice`` bits for all of them, which is the size bound that budgets use.

Wire layout (safetensors; indices address the update flattened tensor by tensor in sorted-name order;
bits are packed most significant first, the last byte padded with zeros):

- ``topk.val``: ``F32 [k]``; or ``I8 [k]``; or ``U8 [ceil(k / 8)]`` sign bits (1: negative).
- ``topk.val:scale`` (``int8`` and ``sign``): ``F32 [ceil(k / block)]`` (one when ``block`` is 0).
- ``topk.idx_r``: ``U8 [ceil(k * rice / 8)]``; ``topk.idx_q``: ``U8`` bytes up to the one of the last entry.
- Metadata: ``codec=topk``, ``codec_version``, ``numel`` (model size), ``spec`` (digest of names and
  shapes), ``k``, ``rice``, ``values`` and, for ``int8`` and ``sign``, ``block``.
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
    CODEC_VERSIONS,
    CodecError,
    EncoderState,
    nblocks,
    spec_fingerprint,
    sqnorm,
)
from flcore.codecs.wire import Body, Entry, Writer, header_bound
from flcore.models import ModelSpec

OPTIONS: dict[str, Any] = {"mode": "global", "values": "f32", "block": 256, "momentum": 0.0, "warmup": True,
                           "seed": 0}
VALUES = ("f32", "int8", "sign")
MAX_NUMEL = 1 << 40
MAX_RICE = 40
KEEP_INDICES = 4 * CHUNK
"""Up to this many entries (32 MiB of indices) the decoder decodes the indices once, not twice."""
SAMPLE = 1 << 18
"""Magnitudes sampled to guess the top-k threshold; the selection itself is then exact."""
_VAL, _SCALE, _IR, _IQ = "topk.val", "topk.val:scale", "topk.idx_r", "topk.idx_q"


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


def _meta(numel: int, fp: str, k: int, rice: int, values: str, block: int) -> dict[str, str]:
    m = {"codec": "topk", "codec_version": str(CODEC_VERSIONS["topk"]), "numel": str(numel), "spec": fp,
         "k": str(k), "rice": str(rice), "values": values}
    if values != "f32":
        m["block"] = str(block)
    return m


def _value_bytes(k: int, values: str, block: int) -> int:
    """Values and their scales."""
    if values == "f32":
        return 4 * k
    return (k if values == "int8" else -(-k // 8)) + 4 * nblocks(k, block)


def _entries(k: int, rice: int, q_bytes: int, values: str, block: int) -> list[Entry]:
    val = {"f32": Entry(_VAL, "F32", (k,)), "int8": Entry(_VAL, "I8", (k,)),
           "sign": Entry(_VAL, "U8", (-(-k // 8),))}[values]
    scale = [Entry(_SCALE, "F32", (nblocks(k, block),))] if values != "f32" else []
    return [val, *scale, Entry(_IR, "U8", (-(-k * rice // 8),)), Entry(_IQ, "U8", (q_bytes,))]


def _index_bytes(k: int, rice: int, qsum: int) -> tuple[int, int]:
    """Bytes of the remainder and the unary stream for ``k`` entries whose quotients sum to ``qsum``."""
    return -(-k * rice // 8), -(-(k + qsum) // 8)


def _rice_bound(k: int, numel: int) -> tuple[int, int]:
    """The Rice parameter with the smallest worst-case index bytes for ``k`` entries, and those bytes:
    the ``x`` sum to at most ``numel - k``, so their quotients to at most ``(numel - k) >> rice``."""
    best = (0, -1)
    for r in range(0, MAX_RICE + 1):
        n = sum(_index_bytes(k, r, (numel - k) >> r))
        if best[1] < 0 or n < best[1]:
            best = (r, n)
        if (numel - k) >> r == 0:
            break
    return best


def size_bound(k: int, numel: int, values: str, block: int) -> int:
    """Bytes that a body of ``k`` entries never exceeds, whatever the indices (``encode`` picks the
    cheapest Rice parameter for the actual gaps, which costs no more than the worst case of this one)."""
    rice, idx_bytes = _rice_bound(k, numel)
    vbytes = _value_bytes(k, values, block)
    # digits in the header: the largest unary stream any layout of k entries could have
    worst = _entries(k, MAX_RICE, -(-(k + numel) // 8), values, block)
    head = header_bound(worst, _meta(numel, "0" * 16, k, MAX_RICE, values, block), vbytes + 2 * (k + numel))
    return head + vbytes + idx_bytes


def max_k(budget: int, numel: int, values: str, block: int) -> int:
    """The largest ``k`` whose size bound fits ``budget``; -1 when not even an empty body fits."""
    lo, hi = -1, numel
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if size_bound(mid, numel, values, block) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return lo


def check_options(o: Mapping[str, Any]) -> None:
    if o["mode"] not in ("global", "tensor"):
        raise ValueError(f"topk mode must be 'global' or 'tensor', got {o['mode']!r}")
    if o["values"] not in VALUES:
        raise ValueError(f"topk values must be one of {', '.join(VALUES)}, got {o['values']!r}")
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
    if byte_budget is not None:
        kb = max_k(byte_budget, total, values, block)
        if kb < min(1, total):
            raise CodecError(f"even a one-entry topk update exceeds the budget of {byte_budget} bytes",
                             param="byte_budget")
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


def _rice(x: np.ndarray[Any, Any]) -> tuple[int, int]:
    """The Rice parameter with the fewest index bytes for these ``x = gap - 1``, and its quotient sum."""
    k = x.size
    if k == 0:
        return 0, 0
    guess = max(0, int(math.log2(float(x.mean()) + 1.0)))
    best = (0, 0, -1)
    for r in range(max(0, guess - 2), min(MAX_RICE, guess + 2) + 1):
        qsum = int((x >> r).sum())
        n = sum(_index_bytes(k, r, qsum))
        if best[2] < 0 or n < best[2]:
            best = (r, qsum, n)
    return best[0], best[1]


def _write(idx: torch.Tensor, val: torch.Tensor, total: int, fp: str, values: str, block: int
           ) -> tuple[bytes, torch.Tensor]:
    """The body, and the values as the decoder will see them (for the residual)."""
    k = idx.numel()
    x = np.diff(idx.numpy(), prepend=-1) - 1
    rice, qsum = _rice(x)
    _, nq = _index_bytes(k, rice, qsum)
    out = Writer(_entries(k, rice, nq, values, block), _meta(total, fp, k, rice, values, block))
    r_out, q_out = out.array(_IR), out.array(_IQ)
    for a, b in quant.chunks(k):  # CHUNK * rice bits is a whole number of bytes
        xs = x[a:b]
        if rice:
            bits = np.empty((b - a, rice), dtype=np.uint8)
            for j in range(rice):  # one bit plane at a time: no chunk x rice int64 temporary
                np.bitwise_and(xs >> (rice - 1 - j), 1, out=bits[:, j], casting="unsafe")
            packed = np.packbits(bits.reshape(-1))
            r_out[a * rice // 8 : a * rice // 8 + packed.size] = packed
    # The unary stream: entry i's one sits at bit sum(q[:i+1]) + i.
    ones = np.cumsum((x >> rice) + 1) - 1
    q_bits = np.zeros(8 * nq, dtype=np.uint8)
    q_bits[ones] = 1
    q_out[:] = np.packbits(q_bits)
    if values == "f32":
        out.put(_VAL, val)
        return out.finish(), val
    scales = out.tensor(_SCALE)
    sent = torch.empty(k)
    if values == "int8":
        q = out.tensor(_VAL)
        quant.quantize_into(val, q, scales, block, torch.empty(min(CHUNK, k)))
        for a, b in quant.chunks(k):
            quant.dequantize_chunk(q, scales, block, a, b, sent[a:])
        return out.finish(), sent
    neg = val < 0
    out.array(_VAL)[:] = np.packbits(neg.numpy())
    _mean_abs_into(val, block, scales)
    sent.copy_(neg).mul_(-2.0).add_(1.0)
    for a, b in quant.chunks(k):
        quant.scale_chunk(sent[a:b], scales, block, a)
    return out.finish(), sent


def _mean_abs_into(x: torch.Tensor, block: int, out: torch.Tensor) -> None:
    n = x.numel()
    if n == 0:
        return
    if block == 0:
        out[0] = x.abs().mean()
        return
    full = n // block
    if full:
        torch.mean(x[: full * block].view(full, block).abs(), dim=1, out=out[:full])
    if n > full * block:
        out[full] = x[full * block :].abs().mean()


# -- decode ---------------------------------------------------------------------------------------


def decode_into(body: Body, spec: ModelSpec, acc: Mapping[str, torch.Tensor] | None, weight: float,
                max_norm: float | None) -> tuple[int, float]:
    names, offsets, total = _layout({n: ts.shape for n, ts in spec.items()})
    if body.meta_int("numel", 0, MAX_NUMEL) != total:
        raise CodecError(f"update is for a model of {body.meta('numel')} elements, not {total}",
                         param="__metadata__.numel")
    if body.meta("spec") != spec_fingerprint((n, ts.shape) for n, ts in spec.items()):
        raise CodecError("update is for a model with other tensor names or shapes", param="__metadata__.spec")
    k = body.meta_int("k", 0, total)
    rice = body.meta_int("rice", 0, MAX_RICE)
    values = body.meta("values")
    if values not in VALUES:
        raise CodecError(f"unknown topk values {values!r}", param="__metadata__.values")
    block = body.meta_int("block", 0, 1 << 62) if values != "f32" else 0
    want = {e.name: e for e in _entries(k, rice, 0, values, block)}
    for e in want.values():
        body.expect(e.name, e.dtype, None if e.name == _IQ else e.shape)
    if len(body.tensors[_IQ].shape) != 1:
        raise CodecError("topk.idx_q must be 1-D", param=_IQ)
    body.only(set(want))
    if values != "f32" and not quant.check_scales(body.torch(_SCALE)):
        raise CodecError("topk value scales are negative, non-finite or too large", param=_SCALE)
    dec = _Decoder(body, k, rice, values, block)
    norm = math.sqrt(dec.run(None, names, offsets, total, weight))
    if not math.isfinite(norm):
        raise CodecError("topk values are not finite", param=_VAL)
    if max_norm is not None and norm > max_norm:
        raise CodecError(f"update norm {norm:.6g} exceeds the bound {max_norm:.6g}", param="norm")
    if acc is not None:
        dec.run(acc, names, offsets, total, weight)
    return k, norm


class _Unary:
    """Reads the quotients from the unary stream, a chunk of entries at a time (bounded buffers)."""

    def __init__(self, data: np.ndarray[Any, Any]) -> None:
        self.data, self.pos, self.last = data, 0, -1
        self.pending = np.empty(0, dtype=np.int64)

    def take(self, m: int) -> np.ndarray[Any, Any]:
        parts, have = [self.pending], self.pending.size
        while have < m and self.pos < self.data.size:
            piece = self.data[self.pos : self.pos + max(1 << 16, (m - have) // 4)]
            ones = np.flatnonzero(np.unpackbits(piece)).astype(np.int64) + 8 * self.pos
            self.pos += piece.size
            parts.append(ones)
            have += ones.size
        ones = np.concatenate(parts)
        if ones.size < m:
            raise CodecError("topk.idx_q ends before every entry's quotient", param=_IQ)
        use, self.pending = ones[:m], ones[m:]
        q = np.diff(use, prepend=self.last) - 1
        if m:
            self.last = int(use[-1])
        return q

    def check_end(self) -> None:
        """Canonical: the stream ends in the byte of the last entry's one, nothing set after it."""
        end = (self.last >> 3) + 1 if self.last >= 0 else 0
        if self.pending.size or self.data.size != end:
            raise CodecError("topk.idx_q holds bits beyond the last entry", param=_IQ)


class _Decoder:
    """Walks the entries in chunks: Rice codes to indices, values to fp32, into reused buffers."""

    def __init__(self, body: Body, k: int, rice: int, values: str, block: int) -> None:
        self.body, self.k, self.rice, self.values, self.block = body, k, rice, values, block
        self.val = body.torch(_VAL)
        self.scales = body.torch(_SCALE) if values != "f32" else torch.empty(0)
        self.r = body.np(_IR)
        self.indices: list[np.ndarray[Any, Any]] | None = None

    def _indices(self, unary: _Unary, a: int, b: int, carry: int, total: int) -> np.ndarray[Any, Any]:
        """The global indices of entries ``[a, b)``, the entry before ``a`` being at ``carry - 1``."""
        rice, m = self.rice, b - a
        q = unary.take(m)
        if int(q.max()) > total >> rice:
            raise CodecError(f"topk index quotient is out of range for {total} elements", param=_IQ)
        x = q << rice
        if rice:
            bits = np.unpackbits(self.r[a * rice // 8 : -(-b * rice // 8)])[: m * rice].reshape(m, rice)
            for j in range(rice):
                x += bits[:, j].astype(np.int64) << (rice - 1 - j)
        x += 1
        np.cumsum(x, out=x)
        x += carry - 1
        return x

    def run(self, acc: Mapping[str, torch.Tensor] | None, names: Sequence[str], offsets: Sequence[int],
            total: int, weight: float) -> float:
        """Without ``acc``: check every index and return the squared norm. With it: add into it. The
        checking pass keeps the indices it decoded for the adding pass when they are few enough."""
        n = min(CHUNK, self.k)
        vbuf = torch.empty(n)
        starts = np.asarray(offsets, dtype=np.int64)
        unary = _Unary(self.body.np(_IQ))
        cached = self.indices if acc is not None else None
        if acc is None:
            self.indices = [] if self.k <= KEEP_INDICES else None
        carry, sq = 0, 0.0
        for i, (a, b) in enumerate(quant.chunks(self.k)):
            m = b - a
            if cached is not None:
                x = cached[i]
            else:
                x = self._indices(unary, a, b, carry, total)
                carry = int(x[-1]) + 1
                if acc is None and carry > total:
                    raise CodecError(f"topk index {carry - 1} is out of range for {total} elements",
                                     param=_IQ)
                if acc is None and self.indices is not None:
                    self.indices.append(x)
            v = self._values(a, b, vbuf)
            if acc is None:
                sq += sqnorm(v)
                continue
            idx = torch.from_numpy(x)
            t0, t1 = np.searchsorted(starts, [x[0], x[-1]], side="right") - 1
            cuts = np.searchsorted(x, starts[t0 + 1 : t1 + 1])
            lo_cut = 0
            for t, hi_cut in zip(range(t0, t1 + 1), [*cuts.tolist(), m], strict=True):
                if hi_cut > lo_cut:
                    acc[names[t]].view(-1).index_add_(
                        0, idx[lo_cut:hi_cut] - offsets[t], v[lo_cut:hi_cut], alpha=weight)
                lo_cut = hi_cut
        if acc is None:
            unary.check_end()
        return sq

    def _values(self, a: int, b: int, buf: torch.Tensor) -> torch.Tensor:
        if self.values == "f32":
            return self.val[a:b]
        if self.values == "int8":
            return quant.dequantize_chunk(self.val, self.scales, self.block, a, b, buf)
        out = buf[: b - a]
        neg = torch.from_numpy(np.unpackbits(self.body.np(_VAL)[a // 8 : -(-b // 8)])[: b - a])
        torch.sub(1.0, neg, alpha=2.0, out=out)
        return quant.scale_chunk(out, self.scales, self.block, a)
