"""Codec speed alone: encode and decode_into throughput on a VGG16_BN-sized update, beside plain fp32 adds.

Throughput is GB/s of the fp32 update (4 bytes per parameter), whatever the wire size, so that every
codec compares with the baseline measured in the same run: ``acc.add_(u)`` per tensor, memory-bound at
memcpy speed. Peak RSS growth (``/proc/self/clear_refs``, else a sampling thread) during ``decode_into``
shows that aggregation allocates no full-size temporary; during one ``encode`` it includes the body.
``--quick`` shrinks every tensor of the model tenfold; ``--threads 1`` pins torch to one thread, which on
cores shared with other processes avoids two-thread kernels stalling on a descheduled partner (10-20x
slower here under load).
"""

from __future__ import annotations

import re
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from bench.common import console, parser, save, table
from flcore.codecs import EncoderState, decode_into, encode
from flcore.models import VGG16BN, TensorSpec, float_state

CONFIGS: list[tuple[str, str, dict[str, Any]]] = [
    ("none", "none", {}),
    ("int8", "int8", {}),
    ("int8/4k", "int8", {"block": 4096}),
    ("topk1%", "topk", {"density": 0.01}),
    ("topk.1%", "topk", {"density": 0.001}),
    ("topk1%i8", "topk", {"density": 0.01, "values": "int8"}),
    ("topk1%sign", "topk", {"density": 0.01, "values": "sign"}),
]


def vgg_spec(shrink: int) -> dict[str, TensorSpec]:
    """VGG16_BN's floating state (built on the meta device: shapes only), each tensor ``shrink`` times
    smaller and flattened when ``shrink`` > 1."""
    with torch.device("meta"):
        state = float_state(VGG16BN())
    if shrink == 1:
        return {n: TensorSpec(tuple(t.shape), torch.float32) for n, t in state.items()}
    return {n: TensorSpec((-(-t.numel() // shrink),), torch.float32) for n, t in state.items()}


def _status(key: str) -> int:
    m = re.search(rf"^{key}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.M)
    return int(m.group(1)) * 1024 if m else 0


def peak_growth(fn: Callable[[], Any]) -> tuple[Any, int]:
    """``fn()`` and how far RSS rose above its level at the start while it ran."""
    base = _status("VmRSS")
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        out = fn()
        return out, max(0, _status("VmHWM") - base)
    except OSError:
        peak, done = base, threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, _status("VmRSS"))
                time.sleep(0.001)

        t = threading.Thread(target=sample)
        t.start()
        try:
            out = fn()
        finally:
            done.set()
            t.join()
        return out, max(0, peak - base)


def timed(fn: Callable[[], Any], reps: int) -> tuple[Any, float]:
    times, out = [], None
    for _ in range(reps):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return out, statistics.median(times)


def _mb(n: int) -> str:
    return f"{n / 1e6:.3g} MB" if n >= 1e6 else f"{n / 1e3:.3g} kB"


def main() -> None:
    p = parser("codec_speed", __doc__)
    p.add_argument("--threads", type=int, default=0,
                   help="torch threads for this run (0: torch's default); on shared cores 1 is far steadier")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    spec = vgg_spec(10 if args.quick else 1)
    numel = sum(ts.numel for ts in spec.values())
    fp32 = numel * 4
    reps = 3
    g = torch.Generator().manual_seed(0)
    update = {n: torch.randn(ts.shape, generator=g).mul_(1e-3) for n, ts in spec.items()}
    acc = {n: torch.zeros(ts.shape) for n, ts in spec.items()}
    for t in acc.values():
        t.add_(1.0)  # fault the pages in before anything is timed

    def baseline() -> None:
        for n, u in update.items():
            acc[n].add_(u, alpha=0.1)

    _, base_s = timed(baseline, reps)
    console.print(f"{numel:,} parameters ({fp32 / 1e6:,.0f} MB fp32), {torch.get_num_threads()} threads; "
                  f"baseline acc.add_(u) {base_s * 1e3:.1f} ms = {fp32 / base_s / 1e9:.2f} GB/s")
    results: list[dict[str, Any]] = []
    for label, codec, opts in CONFIGS:
        state = EncoderState() if codec == "topk" else None
        kw = {**opts, "warmup": False} if codec == "topk" else opts

        def enc(codec: str = codec, kw: dict[str, Any] = kw, state: EncoderState | None = state) -> bytes:
            return encode(update, codec=codec, state=state, **kw)

        enc()  # first call allocates the topk residuals
        body, enc_s = timed(enc, 2)
        del body
        body, enc_rss = peak_growth(enc)  # the body itself included

        def dec(body: bytes = body) -> Any:
            return decode_into(body, spec, acc, 0.1)

        info, dec_s = timed(dec, reps)
        _, dec_rss = peak_growth(dec)
        results.append({
            "codec": codec, "options": opts, "label": label, "bytes": len(body),
            "compression": fp32 / len(body),
            "nnz": info.nnz, "encode_s": enc_s, "encode_gbs": fp32 / enc_s / 1e9,
            "encode_rss_growth_mib": enc_rss / 2**20, "decode_into_s": dec_s,
            "decode_into_gbs": fp32 / dec_s / 1e9, "decode_into_rss_growth_mib": dec_rss / 2**20,
            "decode_vs_baseline": dec_s / base_s,
        })
        console.print(f"  {label}: {len(body):,} B, encode {enc_s:.3f} s, decode_into {dec_s:.3f} s, "
                      f"decode RSS +{dec_rss / 2**20:.1f} MiB")
        del body
    rows = [[r["label"], _mb(r["bytes"]), f"{r['compression']:.0f}x", f"{r['encode_gbs']:.2f}",
             f"{r['decode_into_gbs']:.2f}", f"{r['decode_vs_baseline']:.2f}",
             f"{r['decode_into_rss_growth_mib']:.1f}", f"{r['encode_rss_growth_mib']:.0f}"] for r in results]
    rows.insert(0, ["add_", _mb(fp32), "1x", "-", f"{fp32 / base_s / 1e9:.2f}", "1.00", "0.0", "-"])
    console.print(table(
        f"codec speed, {numel:,} params, GB/s of the {fp32 / 2**20:,.0f} MiB fp32 update",
        ["codec", "bytes", "ratio", "enc GB/s", "dec GB/s", "dec/add", "dec+MiB", "enc+MiB"], rows))
    path = save("codec_speed", {
        "quick": args.quick, "numel": numel, "fp32_bytes": fp32, "torch_threads": torch.get_num_threads(),
        "baseline_add_s": base_s, "baseline_add_gbs": fp32 / base_s / 1e9, "results": results,
    })
    console.print(f"wrote {path}")


if __name__ == "__main__":
    main()
