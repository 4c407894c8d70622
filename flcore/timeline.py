"""TR 22.874 §7.1 timeline maths: latency budgets, required rates and compression ratios.

The real-time FL pipeline (TR 22.874 Figure 7.x.1-2) uploads iteration N-1's update and downloads
iteration N+1's model while the UE computes iteration N, so each direction gets half the UE's compute time
per iteration, less the aggregation time: ``budget = compute / 2 - aggregation``. The rate a direction
needs is ``payload bits / budget``, and with a known link rate the compression that direction needs is
``payload bits / (rate * budget)``.

Two unit conventions:

- ``si`` (default): bytes are bytes, 1 Mbit = 10^6 bit, budgets in exact seconds.
- ``tr22874``: what Table 7.x.6-1 does. Its "132 MByte" for 8-bit VGG16_BN is 138,365,992 B = 131.96 MiB,
  and it divides 132 x 8 "Mbit" by the budget: MiB counted as 10^6-byte MB, so payload bits =
  ``bytes / 2**20 * 8e6`` (131.96 MiB -> 1055.65 "Mbit"). Budgets are ``floor(compute_ms / 2)`` whole
  milliseconds (325 -> 162, 191 -> 95, 131 -> 65, 111 -> 55, 105 -> 52) and rates are rounded half up to
  0.1 Gbps (1055.65 Mbit / 162 ms = 6.516 -> 6.5, /95 = 11.112 -> 11.1, /65 = 16.241 -> 16.2,
  /55 = 19.194 -> 19.2, /52 = 20.301 -> 20.3; truncation would give the same digits). That reproduces
  the table exactly; the ``si`` figures are about 5 % higher (6.81 Gbps for batch 64).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

Convention = Literal["si", "tr22874"]
CONVENTIONS: tuple[Convention, ...] = ("si", "tr22874")

TR22874_MODEL = "vgg16_bn"
TR22874_BITS = 8
TR22874_ROWS: tuple[tuple[int, float], ...] = ((64, 325.0), (32, 191.0), (16, 131.0), (8, 111.0), (4, 105.0))
"""Table 7.x.6-1: (mini-batch size, GPU computation time per iteration in ms)."""
TR22874_UL_RATE_BPS = 73.15e6
TR22874_DL_RATE_BPS = 144.34e6
"""TR 22.874 §7.x.5: 5G NR user-experienced data rates from the IMT-2020 self-evaluation."""

_PREFIX = {"": 1.0, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12}
_RATE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)(?:[eE]([+-]?\d+))?\s*([kKmMgGtT]?)\s*(bps|bit/s|b/s)?\s*$")


def parse_rate(text: str) -> float:
    """Bits per second from ``"73.15Mbps"``, ``"1.2 Gbps"``, ``"100 Mbit/s"``, ``"500k"`` or ``"1e9"``."""
    m = _RATE.match(text)
    if m is None:
        hint = " (use bits: Mbps, not MBps)" if re.search(r"B(ps|/s)\s*$", text) else ""
        raise ValueError(f"not a rate: {text!r}{hint}; e.g. 73.15Mbps, 1.2 Gbps, 500kbps")
    mantissa, exp, prefix, _ = m.groups()
    try:
        value = float(mantissa) * 10.0 ** int(exp or 0) * _PREFIX[prefix.lower()]
    except OverflowError:
        value = math.inf
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"a rate must be positive and finite, got {text!r}")
    return value


def format_rate(bps: float) -> str:
    for unit, scale in (("Tbps", 1e12), ("Gbps", 1e9), ("Mbps", 1e6), ("kbps", 1e3)):
        if bps >= scale:
            return f"{bps / scale:.4g} {unit}"
    return f"{bps:.4g} bps"


def round_half_up(x: float, ndigits: int) -> float:
    """Table rounding (half up), not Python's ``round`` (half to even on the binary value)."""
    return float(Decimal(repr(x)).quantize(Decimal(1).scaleb(-ndigits), rounding=ROUND_HALF_UP).normalize())


def payload_bytes(num_params: int, bits: float) -> int:
    """Bytes of ``num_params`` values at ``bits`` each, uncompressed (no container overhead)."""
    if num_params < 0 or bits <= 0:
        raise ValueError(f"need num_params >= 0 and bits > 0, got {num_params} and {bits}")
    return math.ceil(num_params * bits / 8)


def payload_bits(nbytes: int, convention: Convention = "si") -> float:
    """Bits on the air for ``nbytes``; under ``tr22874`` a MiB counts as 8 x 10^6 bits."""
    return nbytes / 2**20 * 8e6 if convention == "tr22874" else nbytes * 8.0


def latency_budget_ms(compute_ms: float, aggregation_ms: float = 0.0, convention: Convention = "si") -> float:
    """Time each direction has per iteration: half the compute time less the aggregation time (under
    ``tr22874`` floored to whole milliseconds). Zero or negative means no time is left for transfers."""
    if not compute_ms > 0 or aggregation_ms < 0:
        raise ValueError(f"need compute > 0 and aggregation >= 0, got {compute_ms} and {aggregation_ms}")
    budget = compute_ms / 2 - aggregation_ms
    return float(math.floor(budget)) if convention == "tr22874" else budget


def latency_budget_s(compute_s: float, aggregation_s: float = 0.0, convention: Convention = "si") -> float:
    """``latency_budget_ms`` in seconds."""
    return latency_budget_ms(compute_s * 1000, aggregation_s * 1000, convention) / 1000


def derive_budget(compute_s_per_iteration: float, aggregation_s: float, *, min_budget_s: float = 0.01
                  ) -> float:
    """The AF's per-direction transfer budget for a UE: ``compute / 2 - aggregation``, never below
    ``min_budget_s`` (so that a slow aggregation still leaves a usable, if tight, deadline)."""
    return max(min_budget_s, latency_budget_s(compute_s_per_iteration, aggregation_s))


def required_rate_bps(bits: float, budget_s: float) -> float:
    if budget_s <= 0:
        raise ValueError(f"no time left for the transfer (budget {budget_s} s)")
    return bits / budget_s


def required_ratio(payload_bytes: int, rate_bps: float, budget_s: float) -> float:
    """The compression ratio that fits ``payload_bytes`` into ``budget_s`` at ``rate_bps`` (<= 1: none
    needed)."""
    if rate_bps <= 0 or budget_s <= 0:
        raise ValueError(f"need rate > 0 and budget > 0, got {rate_bps} and {budget_s}")
    return payload_bytes * 8 / (rate_bps * budget_s)


def byte_budget(rate_bps: float, budget_s: float) -> int:
    """The most bytes a link at ``rate_bps`` carries in ``budget_s``: the size cap for an encoded update."""
    return max(0, math.floor(rate_bps * budget_s / 8))


@dataclass(frozen=True)
class Row:
    """One line of a plan: a compute time and what it asks of each direction."""

    batch: int | None
    compute_ms: float
    budget_ms: float
    required_bps: float
    ul_ratio: float | None
    dl_ratio: float | None
    ul_s: float | None
    dl_s: float | None

    @property
    def required_gbps(self) -> float:
        return self.required_bps / 1e9


@dataclass(frozen=True)
class Plan:
    num_params: int
    bits: float
    payload_bytes: int
    payload_bits: float
    convention: Convention
    aggregation_ms: float
    ul_rate_bps: float | None
    dl_rate_bps: float | None
    rows: tuple[Row, ...]


def plan(num_params: int, bits: float, compute_ms: Sequence[float],
         batches: Sequence[int | None] | None = None, *, aggregation_ms: float = 0.0,
         ul_rate_bps: float | None = None, dl_rate_bps: float | None = None,
         convention: Convention = "si") -> Plan:
    """Budgets and required rates for each compute time; the same payload goes each way (the update up,
    the model down), so both directions need the same rate. With link rates, the ratio each needs."""
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown convention {convention!r}; known: {', '.join(CONVENTIONS)}")
    bs: Sequence[int | None] = [None] * len(compute_ms) if batches is None else batches
    if len(bs) != len(compute_ms):
        raise ValueError(f"{len(bs)} batch sizes for {len(compute_ms)} compute times")
    nbytes = payload_bytes(num_params, bits)
    pbits = payload_bits(nbytes, convention)
    rows = []
    for batch, c_ms in zip(bs, compute_ms, strict=True):
        budget_ms = latency_budget_ms(c_ms, aggregation_ms, convention)
        if budget_ms <= 0:
            raise ValueError(f"aggregation of {aggregation_ms} ms leaves no transfer time in {c_ms} ms")
        need = required_rate_bps(pbits, budget_ms / 1000)
        rows.append(Row(
            batch, c_ms, budget_ms, need,
            need / ul_rate_bps if ul_rate_bps else None, need / dl_rate_bps if dl_rate_bps else None,
            pbits / ul_rate_bps if ul_rate_bps else None, pbits / dl_rate_bps if dl_rate_bps else None,
        ))
    return Plan(num_params, bits, nbytes, pbits, convention, aggregation_ms, ul_rate_bps, dl_rate_bps,
                tuple(rows))


def tr22874_table(num_params: int = 138_365_992, bits: float = TR22874_BITS, *, aggregation_ms: float = 0.0,
                  ul_rate_bps: float | None = None, dl_rate_bps: float | None = None) -> Plan:
    """Table 7.x.6-1 with the TR's own units (defaults: 8-bit VGG16_BN)."""
    return plan(num_params, bits, [c for _, c in TR22874_ROWS], [b for b, _ in TR22874_ROWS],
                aggregation_ms=aggregation_ms, ul_rate_bps=ul_rate_bps, dl_rate_bps=dl_rate_bps,
                convention="tr22874")
