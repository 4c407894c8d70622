"""``fl5g radio peak-rate``: the TS 38.306 §4.1.2 approximate maximum data rate of one carrier."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated

import typer

from nef_mock.radio.cells import Band, Direction
from nef_mock.radio.rates import OVERHEAD, R_MAX, SCALING_FACTORS, max_data_rate_bps, n_prb, numerology


class Fr(StrEnum):
    fr1 = "1"
    fr2 = "2"


class Dir(StrEnum):
    ul = "ul"
    dl = "dl"


def peak_rate(
    fr: Annotated[Fr, typer.Option("--fr", help="frequency range: 1 (sub-6 GHz) or 2 (mmWave)")],
    bandwidth_mhz: Annotated[float, typer.Option("--bandwidth-mhz", help="channel bandwidth, MHz")],
    scs_khz: Annotated[int, typer.Option("--scs-khz", help="subcarrier spacing, kHz")],
    layers: Annotated[int, typer.Option("--layers", min=1, max=8, help="maximum MIMO layers")],
    qam: Annotated[int, typer.Option("--qam", help="maximum modulation: 4, 16, 64, 256 or 1024 (QAM)")],
    direction: Annotated[Dir, typer.Option("--direction", help="ul or dl")],
    scaling: Annotated[float, typer.Option("--scaling", help="scaling factor f: 1, 0.8, 0.75 or 0.4")] = 1.0,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Print the TS 38.306 peak rate in Gbps (N_PRB from TS 38.101-1/-2; no TDD split)."""
    band: Band = "FR1" if fr is Fr.fr1 else "FR2"
    dirn: Direction = "UL" if direction is Dir.ul else "DL"
    if scaling not in SCALING_FACTORS:
        allowed = ", ".join(map(str, SCALING_FACTORS))
        raise typer.BadParameter(f"must be one of {allowed}", param_hint="--scaling")
    try:
        prb = n_prb(band, bandwidth_mhz, scs_khz)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--bandwidth-mhz/--scs-khz") from None
    try:
        bps = max_data_rate_bps(band, bandwidth_mhz, scs_khz, layers, qam, dirn, scaling)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--qam") from None
    if as_json:
        out = {
            "band": band,
            "direction": dirn,
            "bandwidthMhz": bandwidth_mhz,
            "scsKhz": scs_khz,
            "numerology": numerology(scs_khz),
            "nPrb": prb,
            "layers": layers,
            "qam": qam,
            "scaling": scaling,
            "rMax": R_MAX,
            "overhead": OVERHEAD[band][dirn],
            "rateBps": bps,
            "rateGbps": round(bps / 1e9, 4),
        }
        typer.echo(json.dumps(out))
    else:
        typer.echo(f"{bps / 1e9:.2f} Gbps")


def register(app: typer.Typer) -> None:
    """Add the ``radio`` command group to ``app``."""
    radio = typer.Typer(help="Radio reference calculations (3GPP formulas).", no_args_is_help=True)
    radio.command("peak-rate")(peak_rate)
    app.add_typer(radio, name="radio")
