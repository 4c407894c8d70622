"""The TR 22.874 real-time timeline beside the synchronous one: how busy the UEs' compute stays.

Two UE agents, one per process (no UE waits for another's training), on links that meet the TR
budget (the emulator pins their rates: 200 Mbit/s up, 1 Gbit/s down, so the 1.7 MB fp32 update
uploads in ~70 ms, well inside half of a ~0.5 s iteration), run the same job twice: ``sync``
(download, train, upload, aggregate, next) and ``realtime`` (train on version v while the update of
v - 1 uploads and version v + 1 downloads; updates one version stale).

Compute utilisation of a UE = its training time / wall time, measured from the AF's records between
its first and last update: the trainings of updates 2..n over the time between their arrivals
(the encoding and upload offsets of the two ends cancel). The per-iteration time is the median
time between a UE's consecutive updates.
"""

from __future__ import annotations

import statistics
from typing import Any

from rich.console import Console

from bench.common import parser, save, table
from bench.fljobs import final_accuracy, outcomes, override, run_job, stack

console = Console(width=160)
MODES = ("sync", "realtime")


def spec(cfg: dict[str, Any], mode: str) -> dict[str, Any]:
    return {
        "model": "smallcnn",
        "rounds": cfg["rounds"],
        "ues_per_round": cfg["ues"],
        "selection": "all",
        "timeline": mode,
        "local_steps": cfg["local_steps"],
        "batch_size": 32,
        "lr": 0.05,
        "seed": cfg["seed"],
        "codec": "none",
        "eval_every": cfg["eval_every"],
        "eval_samples": 2000,
        "qos_boost": False,
    }


def utilisation(rounds: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    by_ue: dict[str, list[tuple[float, float]]] = {}
    for r in rounds:
        for u in r["ues"]:
            if u.get("arrived_at") is not None and u.get("compute_s") is not None:
                by_ue.setdefault(u["gpsi"], []).append((float(u["arrived_at"]), float(u["compute_s"])))
    out = {}
    for gpsi, ups in by_ue.items():
        ups.sort()
        if len(ups) < 3:
            continue
        wall = ups[-1][0] - ups[0][0]
        busy = sum(c for _, c in ups[1:])
        gaps = [b[0] - a[0] for a, b in zip(ups, ups[1:], strict=False)]
        out[gpsi] = {
            "updates": len(ups),
            "utilisation": busy / wall if wall > 0 else 0.0,
            "period_s": statistics.median(gaps),
            "compute_s": statistics.median(c for _, c in ups),
        }
    return out


def summarise(mode: str, rounds: list[dict[str, Any]]) -> dict[str, Any]:
    per_ue = utilisation(rounds)
    o = outcomes(rounds)
    stale = [u["staleness"] for r in rounds for u in r["ues"] if u.get("staleness") is not None]
    return {
        "mode": mode,
        "rounds": len(rounds),
        "per_ue": per_ue,
        "utilisation": statistics.mean(v["utilisation"] for v in per_ue.values()) if per_ue else None,
        "min_utilisation": min((v["utilisation"] for v in per_ue.values()), default=None),
        "period_s": statistics.median(v["period_s"] for v in per_ue.values()) if per_ue else None,
        "compute_s": statistics.median(v["compute_s"] for v in per_ue.values()) if per_ue else None,
        "compliance": o.compliance,
        "stale_share": sum(s == 1 for s in stale) / len(stale) if stale else 0.0,
        "wall_s": float(rounds[-1]["started_at"])
        + float(rounds[-1]["duration_s"])
        - float(rounds[0]["started_at"]),
        "final_accuracy": final_accuracy(rounds),
    }


def main() -> None:
    args = parser("timeline", __doc__).parse_args()
    cfg: dict[str, Any] = {
        "ues": 2,
        "rounds": 30,
        "local_steps": 40,
        "eval_every": 10,
        "seed": 0,
        "ul_bps": 200e6,
        "dl_bps": 1e9,
    }
    if args.quick:
        cfg.update(rounds=6, eval_every=3)
    results: dict[str, dict[str, Any]] = {}
    raw: dict[str, Any] = {}
    for mode in MODES:
        console.print(f"[bold]{mode}[/bold]: {cfg['rounds']} iterations, {cfg['ues']} UEs")
        with stack(cfg["ues"], processes=cfg["ues"], seed=cfg["seed"], workers=1) as st:
            for g in st.gpsis():
                override(st, g, ulRateBps=cfg["ul_bps"], dlRateBps=cfg["dl_bps"])
            res = run_job(st, spec(cfg, mode))
        raw[mode] = res["rounds"]
        results[mode] = summarise(mode, res["rounds"])
    cols = [
        "timeline",
        "UE utilisation",
        "lowest UE",
        "iteration s",
        "compute s",
        "compliance",
        "stale share",
        "job wall s",
        "final acc %",
    ]
    rows = [
        [
            r["mode"],
            r["utilisation"],
            r["min_utilisation"],
            r["period_s"],
            r["compute_s"],
            r["compliance"],
            r["stale_share"],
            r["wall_s"],
            (r["final_accuracy"] or 0) * 100,
        ]
        for r in results.values()
    ]
    console.print(
        table(
            f"timeline: {cfg['ues']} UEs, {cfg['local_steps']} local steps, links within the TR budget",
            cols,
            rows,
        )
    )
    save("timeline", {"config": cfg, "quick": args.quick, "results": results, "rounds": raw})


if __name__ == "__main__":
    main()
