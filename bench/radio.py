"""Radio model calibration: rates per UE class, FR2 time share of walkers, blockage, against public anchors.

Runs the default scenario on a fake clock twice: with idle cells (each UE's rate is what it would
get if it started a transfer, alone) and with full buffer (every UE uploading and downloading at
once, like the ITU-R M.2412 evaluation with ~10 UEs per TRxP). Writes bench/results/radio.json.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from bench.common import console, parser, save, table
from nef_mock.radio import RadioModel, Scenario, load_scenario

CLASSES = ("static", "pedestrian", "vehicle")
ANCHORS = {
    "itu_m2412_dense_urban_p05_ul_mbps": 50.0,
    "itu_m2412_dense_urban_p05_dl_mbps": 100.0,
    "mmwave_ul_median_static_mbps": 103.0,  # 5G-MeMU'22 (p5 12, p95 168)
    "mmwave_ul_median_walking_mbps": 33.0,  # 5G-MeMU'22 (p5 0, p95 140)
    "walking_on_mmwave_share": 0.48,  # 5Gophers walking loop, 603 s
    "walking_5g_4g_switches_per_min": 22 / 603 * 60,
    "walking_fr2_dwell_median_s": 15.0,
    "walking_fr1_dwell_median_s": 4.0,
    "blockage_duration_s": "hundreds of ms or more (Raghavan et al. 2018)",
}


def _runs(mask: np.ndarray, value: bool) -> list[int]:
    """Lengths of the runs of ``value`` that start and end inside the window (censored runs left out)."""
    out: list[int] = []
    x = np.concatenate([[False], mask == value, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(x))
    for start, end in zip(edges[::2], edges[1::2], strict=True):
        if start > 0 and end < len(mask):
            out.append(int(end - start))
    return out


def simulate(sc: Scenario, seconds: float, full_buffer: bool) -> dict[str, Any]:
    t = [0.0]
    model = RadioModel(sc, clock=lambda: t[0])
    gpsis = model.gpsis()
    if full_buffer:
        for g in gpsis:
            model.begin_transfer(g, "UL", 1 << 50)
            model.begin_transfer(g, "DL", 1 << 50)
    classes = {g: model.link(g).mobility for g in gpsis}
    chunk = max(sc.step_s, min(sc.history_s, 300.0))
    ul: dict[str, list[np.ndarray]] = {c: [] for c in CLASSES}
    dl: dict[str, list[np.ndarray]] = {c: [] for c in CLASSES}
    band: dict[str, list[np.ndarray]] = {c: [] for c in CLASSES}
    blocked: dict[str, list[np.ndarray]] = {g: [] for g in gpsis}
    bands_by_ue: dict[str, list[np.ndarray]] = {g: [] for g in gpsis}
    start = 0.0
    while start < seconds - 1e-9:
        end = min(seconds, start + chunk)
        t[0] = end
        model.links()
        for g in gpsis:
            h = model.history(g, start + (sc.step_s if start > 0 else 0.0), end)
            c = classes[g]
            ul[c].append(h.ul_bps)
            dl[c].append(h.dl_bps)
            band[c].append(h.band)
            blocked[g].append(h.blocked)
            bands_by_ue[g].append(h.band)
        start = end
    out: dict[str, Any] = {"classes": {}}
    for c in CLASSES:
        if not ul[c]:
            continue
        u, d, b = np.concatenate(ul[c]) / 1e6, np.concatenate(dl[c]) / 1e6, np.concatenate(band[c])
        out["classes"][c] = {
            "ues": sum(1 for g in gpsis if classes[g] == c),
            **{f"ul_p{p:02d}_mbps": float(np.percentile(u, p)) for p in (5, 50, 95)},
            **{f"dl_p{p:02d}_mbps": float(np.percentile(d, p)) for p in (5, 50, 95)},
            "fr2_share": float(np.mean(b == 2)),
            "connected_share": float(np.mean(b > 0)),
        }
    allu = np.concatenate([np.concatenate(v) for v in ul.values() if v]) / 1e6
    alld = np.concatenate([np.concatenate(v) for v in dl.values() if v]) / 1e6
    allb = np.concatenate([np.concatenate(v) for v in band.values() if v])
    out["all"] = {
        "ul_p05_mbps": float(np.percentile(allu, 5)),
        "dl_p05_mbps": float(np.percentile(alld, 5)),
        "ul_p50_mbps": float(np.percentile(allu, 50)),
        "dl_p50_mbps": float(np.percentile(alld, 50)),
    }
    # 1 Gbps of UL link capability is 200 Mbps after the 20 % UL share of the TDD pattern.
    ul_share = sc.bands["FR2"].tdd_ul if "FR2" in sc.bands else 0.2
    out["by_band"] = {
        name: {
            "share": float(np.mean(allb == code)),
            "ul_p50_mbps": float(np.percentile(allu[allb == code], 50)) if np.any(allb == code) else None,
            "ul_gbps_capable_share": float(np.mean(allu[allb == code] >= 1000 * ul_share))
            if np.any(allb == code)
            else None,
        }
        for name, code in (("FR2", 2), ("FR1", 1))
    }
    runs = [r for g in gpsis for r in _runs(np.concatenate(blocked[g]), True)]
    dur = np.asarray(runs, dtype=np.float64) * sc.step_s
    out["blockage"] = {
        "events": len(runs),
        "mean_s": float(dur.mean()) if dur.size else None,
        "median_s": float(np.median(dur)) if dur.size else None,
        "blocked_share": float(np.mean(np.concatenate([np.concatenate(v) for v in blocked.values()]))),
    }
    walkers = [g for g in gpsis if classes[g] == "pedestrian"]
    switches, fr2_dwell, fr1_dwell = 0, [], []
    for g in walkers:
        on_fr2 = np.concatenate(bands_by_ue[g]) == 2
        switches += int(np.count_nonzero(np.diff(on_fr2.astype(np.int8))))
        fr2_dwell += _runs(on_fr2, True)
        fr1_dwell += _runs(on_fr2, False)
    minutes = max(len(walkers), 1) * seconds / 60.0
    out["walking"] = {
        "switches_per_min": switches / minutes,
        "fr2_dwell_median_s": float(np.median(fr2_dwell) * sc.step_s) if fr2_dwell else None,
        "fr1_dwell_median_s": float(np.median(fr1_dwell) * sc.step_s) if fr1_dwell else None,
    }
    return out


def _pair(idle: dict[str, Any], full: dict[str, Any], cls: str) -> str:
    a = idle["classes"].get(cls, {}).get("ul_p50_mbps", float("nan"))
    b = full["classes"].get(cls, {}).get("ul_p50_mbps", float("nan"))
    return f"{a:.0f} / {b:.0f}"


def _bands(res: dict[str, Any]) -> str:
    fr2, fr1 = res["by_band"]["FR2"]["ul_p50_mbps"], res["by_band"]["FR1"]["ul_p50_mbps"]
    return f"{fr2 or 0:.0f} / {fr1 or 0:.0f} Mbps"


def main() -> None:
    args = parser("radio", __doc__).parse_args()
    sc = load_scenario(None)
    seconds = 120.0 if args.quick else 600.0
    t0 = time.perf_counter()
    results = {load: simulate(sc, seconds, load == "full_buffer") for load in ("idle", "full_buffer")}
    wall = time.perf_counter() - t0
    for load, res in results.items():
        rows = [
            [
                c,
                v["ues"],
                v["ul_p05_mbps"],
                v["ul_p50_mbps"],
                v["ul_p95_mbps"],
                v["dl_p05_mbps"],
                v["dl_p50_mbps"],
                v["dl_p95_mbps"],
                v["fr2_share"],
            ]
            for c, v in res["classes"].items()
        ]
        rows.append(
            [
                "all",
                sum(v["ues"] for v in res["classes"].values()),
                res["all"]["ul_p05_mbps"],
                res["all"]["ul_p50_mbps"],
                "",
                res["all"]["dl_p05_mbps"],
                res["all"]["dl_p50_mbps"],
                "",
                "",
            ]
        )
        console.print(
            table(
                f"Rates, {load.replace('_', ' ')} cells, {sc.name}, {seconds:.0f} s model time (Mbps)",
                ["class", "UEs", "UL p5", "UL p50", "UL p95", "DL p5", "DL p50", "DL p95", "on FR2"],
                rows,
            )
        )
    idle, full = results["idle"], results["full_buffer"]
    ped = idle["classes"].get("pedestrian", {})
    compare = [
        ["UL p5, all UEs (full buffer)", full["all"]["ul_p05_mbps"], "50 Mbps", "ITU-R M.2412 Dense Urban"],
        ["DL p5, all UEs (full buffer)", full["all"]["dl_p05_mbps"], "100 Mbps", "ITU-R M.2412 Dense Urban"],
        [
            "UL median, static (idle / full)",
            _pair(idle, full, "static"),
            "~103 Mbps",
            "commercial mmWave, 5G-MeMU'22",
        ],
        [
            "UL median, walking (idle / full)",
            _pair(idle, full, "pedestrian"),
            "~33 Mbps",
            "commercial mmWave, 5G-MeMU'22",
        ],
        ["UL median on FR2 / on FR1 (idle)", _bands(idle), "", ""],
        [
            "time on FR2 with a >= 1 Gbps UL link (idle)",
            idle["by_band"]["FR2"]["ul_gbps_capable_share"],
            "",
            "",
        ],
        ["walking time on FR2", ped.get("fr2_share", float("nan")), "0.48", "5Gophers walking loop"],
        ["walking FR2<->FR1 switches / min", idle["walking"]["switches_per_min"], "2.2", "5Gophers"],
        ["walking FR2 dwell median (s)", idle["walking"]["fr2_dwell_median_s"], "15", "5Gophers"],
        ["walking FR1 dwell median (s)", idle["walking"]["fr1_dwell_median_s"], "4", "5Gophers"],
        ["blockage mean (s)", idle["blockage"]["mean_s"], "~0.5 (model input)", "Raghavan et al. 2018"],
        ["blockage median (s)", idle["blockage"]["median_s"], "hundreds of ms", "Raghavan et al. 2018"],
        ["time blocked", idle["blockage"]["blocked_share"], "", ""],
    ]
    console.print(table("Against public anchors", ["figure", "model", "anchor", "source"], compare))
    console.print(
        "Note: ITU-R M.2412 figures come from evaluations with multi-user MIMO; this model shares a "
        "cell's time equally (radio.md §3.3), so its full-buffer p5 is a conservative floor. "
        f"With idle cells p5 is {idle['all']['ul_p05_mbps']:.0f} Mbps UL / "
        f"{idle['all']['dl_p05_mbps']:.0f} Mbps DL."
    )
    console.print(f"simulated 2 x {seconds:.0f} s of {len(sc.cells)} cells in {wall:.1f} s wall time")
    path = save(
        "radio", {"scenario": sc.name, "seconds": seconds, "wall_s": wall, "anchors": ANCHORS, **results}
    )
    console.print(f"wrote {path}")


if __name__ == "__main__":
    main()
