"""``fl5g plan``: TR 22.874 §7.1 latency budgets, required rates and compression ratios for a model."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from flcore import timeline
from flcore.models import UnknownModelError, model_info

HELP = (
    "Latency budget and required data rate per direction for real-time FL (TR 22.874 Table 7.x.6-1)."
    "\n\n"
    "Each direction (update up, model down) gets half the UE's compute time per iteration, less the "
    "aggregation time; the rate it needs is payload bits / budget, and with --ul-rate/--dl-rate the "
    "compression each direction needs is that rate / the link rate."
    "\n\n"
    "Units: --convention si (the default) counts bytes as bytes and 1 Mbit = 10^6 bit. --convention "
    "tr22874 does what the TR table does: its '132 MByte' for 8-bit VGG16_BN is 138,365,992 B = 131.96 MiB, "
    "counted as 132 x 8 Mbit (a MiB treated as a 10^6-byte MB); budgets are floored to whole ms and rates "
    "rounded half up to 0.1 Gbps. --tr22874 prints the TR's five rows (VGG16_BN, 8 bit, TR units) and "
    "reproduces the table exactly."
)


class Conv(StrEnum):
    si = "si"
    tr22874 = "tr22874"


def _rate(value: str | None, flag: str) -> float | None:
    if value is None:
        return None
    try:
        return timeline.parse_rate(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=flag) from None


def _ratio(r: float | None) -> str:
    if r is None:
        return "-"
    return f"{r:,.1f}x" if r > 1 else f"none ({r:.2f}x)"


Model = Annotated[str | None, typer.Option("--model", help="a registry model: vgg16_bn, smallcnn, ...")]
Params = Annotated[int | None, typer.Option("--params", min=1, help="parameter count (instead of --model)")]
Bits = Annotated[float | None, typer.Option("--bits", min=0.001, help="bits per parameter [32, or 8 for TR]")]
ComputeMs = Annotated[list[float] | None, typer.Option(
    "--compute-ms", min=0.001, help="UE compute time per iteration in ms; repeat for more rows")]
Batch = Annotated[list[int] | None, typer.Option("--batch", help="mini-batch size of each --compute-ms row")]
UlRate = Annotated[str | None, typer.Option("--ul-rate", help="uplink rate, e.g. 73.15Mbps or '1.2 Gbps'")]
DlRate = Annotated[str | None, typer.Option("--dl-rate", help="downlink rate, e.g. 144.34Mbps")]
AggMs = Annotated[float, typer.Option("--aggregation-ms", min=0, help="AF aggregation time in ms")]
ConvOpt = Annotated[Conv | None, typer.Option("--convention", help="units: si or tr22874 (see above)")]
Tr = Annotated[bool, typer.Option("--tr22874", help="the TR table's rows and units")]
Json = Annotated[bool, typer.Option("--json", help="print one JSON object")]


def plan_cmd(
    model: Model = None,
    params: Params = None,
    bits: Bits = None,
    compute_ms: ComputeMs = None,
    batch: Batch = None,
    ul_rate: UlRate = None,
    dl_rate: DlRate = None,
    aggregation_ms: AggMs = 0.0,
    convention: ConvOpt = None,
    tr22874: Tr = False,
    as_json: Json = False,
) -> None:
    if model is not None and params is not None:
        raise typer.BadParameter("give --model or --params, not both", param_hint="--model/--params")
    if model is None and params is None:
        if not tr22874:
            raise typer.BadParameter("give --model or --params", param_hint="--model/--params")
        model = timeline.TR22874_MODEL
    if model is not None:
        try:
            params = model_info(model).num_params
        except UnknownModelError as exc:
            raise typer.BadParameter(str(exc.args[0]), param_hint="--model") from None
    assert params is not None
    if tr22874:
        if compute_ms or batch:
            raise typer.BadParameter("--tr22874 brings its own rows", param_hint="--compute-ms/--batch")
        compute_ms = [c for _, c in timeline.TR22874_ROWS]
        batch = [b for b, _ in timeline.TR22874_ROWS]
    if not compute_ms:
        raise typer.BadParameter("give at least one --compute-ms (or --tr22874)", param_hint="--compute-ms")
    if batch and len(batch) != len(compute_ms):
        msg = f"{len(batch)} --batch for {len(compute_ms)} --compute-ms"
        raise typer.BadParameter(msg, param_hint="--batch")
    conv = (convention or (Conv.tr22874 if tr22874 else Conv.si)).value
    nbits = bits if bits is not None else (timeline.TR22874_BITS if tr22874 else 32)
    try:
        p = timeline.plan(
            params, nbits, compute_ms, list(batch) if batch else None, aggregation_ms=aggregation_ms,
            ul_rate_bps=_rate(ul_rate, "--ul-rate"), dl_rate_bps=_rate(dl_rate, "--dl-rate"),
            convention="tr22874" if conv == "tr22874" else "si",
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--aggregation-ms") from None
    if as_json:
        typer.echo(json.dumps(_as_dict(p, model)))
    else:
        Console().print(_table(p, model))


def _gbps(p: timeline.Plan, row: timeline.Row) -> float:
    digits = 1 if p.convention == "tr22874" else 3
    return timeline.round_half_up(row.required_gbps, digits)


def _as_dict(p: timeline.Plan, model: str | None) -> dict[str, Any]:
    return {
        "model": model, "params": p.num_params, "bits": p.bits, "payloadBytes": p.payload_bytes,
        "payloadMib": p.payload_bytes / 2**20, "payloadBits": p.payload_bits, "convention": p.convention,
        "aggregationMs": p.aggregation_ms, "ulRateBps": p.ul_rate_bps, "dlRateBps": p.dl_rate_bps,
        "rows": [
            {"batch": r.batch, "computeMs": r.compute_ms, "budgetMs": r.budget_ms,
             "requiredBps": r.required_bps, "requiredGbps": _gbps(p, r), "ulRatio": r.ul_ratio,
             "dlRatio": r.dl_ratio, "ulSeconds": r.ul_s, "dlSeconds": r.dl_s}
            for r in p.rows
        ],
    }


def _table(p: timeline.Plan, model: str | None) -> Table:
    what = model or f"{p.num_params:,} params"
    title = (f"{what}, {p.bits:g} bit: {p.payload_bytes:,} B = {p.payload_bytes / 2**20:.2f} MiB "
             f"per direction ({p.convention} units, aggregation {p.aggregation_ms:g} ms)")
    t = Table(title=title)
    for col in ("batch", "compute ms", "budget ms (each way)", "required Gbps (UL = DL)"):
        t.add_column(col, justify="right")
    if p.ul_rate_bps:
        t.add_column(f"UL ratio @ {timeline.format_rate(p.ul_rate_bps)}", justify="right")
    if p.dl_rate_bps:
        t.add_column(f"DL ratio @ {timeline.format_rate(p.dl_rate_bps)}", justify="right")
    for r in p.rows:
        cells = ["-" if r.batch is None else str(r.batch), f"{r.compute_ms:g}", f"<{r.budget_ms:g}",
                 f"{_gbps(p, r):g}"]
        if p.ul_rate_bps:
            cells.append(_ratio(r.ul_ratio))
        if p.dl_rate_bps:
            cells.append(_ratio(r.dl_ratio))
        t.add_row(*cells)
    return t


def register(app: typer.Typer) -> None:
    """Add the ``plan`` command to ``app``."""
    app.command("plan", help=HELP)(plan_cmd)
