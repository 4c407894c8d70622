"""Selection policies side by side on the default radio scenario: deadline compliance and time to accuracy.

The default scenario's population (FR2 small cells over half the area under two FR1 macro cells;
static, walking and driving UEs) hosts 60 UE agents in two processes, training SmallCNN on non-IID
Fashion-MNIST (Dirichlet alpha 0.5). Each policy runs the same job (same seed, rounds and data) on
a fresh stack: ``sync`` timeline, a fixed deadline, fp32 updates (codec ``none``: 1.7 MB up, so the
uplink matters: ~0.1 s on an FR2 cell, a second or more on an FR1 macro cell shared by several of
the chosen UEs), k = 20 UEs wanted per round. ``random`` samples k; ``deadline``, ``utility`` and
``energy`` read the NEF and over-select to expect k on time; ``energy`` takes the UEs eligible under
the deadline rule in a random order weighted towards low predicted joules.

The UEs have different devices (``UE_DEVICE_MIX``, ``ue_agent.devices.TYPICAL_MIX``: 3 flagship phones,
4 mid-range phones, 2 tablets or laptops, 1 vehicle computer in every 10 UEs, dealt by the seed), each
declaring its class's powers at registration and reporting with them, so the ``energy`` policy has
devices to choose between, not only radio conditions.

Compute is short (2 local steps) because 20 UEs train at once on the machine's few shared cores:
their compute time is then a few hundred milliseconds, not a noise that swamps the radio. Before the
measured job every stack runs the same two-round warm-up job (random selection), so that the AF
starts the measured job knowing how long the UEs compute here and how far their exchanges depart
from the NEF's transfer predictions (what a long-running AF knows; the UEs' benchmark at
registration runs alone and says nothing about sharing the cores).

Deadline compliance = on-time updates / selected UEs over all rounds. Time to accuracy = wall time
from the first dispatch to the end of the first round whose model reaches the target accuracy
(stratified 2,000-image test subset), as a ratio to ``random`` (below 1: faster). Energy = what the UEs
reported with their updates (``Fl5g-Energy-Joules``: training, download and upload at their device's
powers; a UE that sent nothing reported nothing), per selected UE per round (the round's
reported joules over the UEs it selected, averaged over rounds), per on-time update, and as a ratio
to ``deadline`` (below 1: less); next to it, the AF's mean prediction for the chosen UEs, the radio's
part and the share of each device class among the selected.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console

from bench.common import parser, save, table
from bench.fljobs import final_accuracy, outcomes, run_job, stack, time_to
from ue_agent.devices import DEVICE_CLASSES, TYPICAL_MIX, device_class, parse_mix
from ue_agent.settings import gpsi_for

POLICIES = ("random", "deadline", "utility", "energy")
console = Console(width=230)


def spec(cfg: dict[str, Any], policy: str) -> dict[str, Any]:
    return {
        "model": "smallcnn",
        "rounds": cfg["rounds"],
        "ues_per_round": cfg["k"],
        "selection": policy,
        "timeline": "sync",
        "local_steps": cfg["local_steps"],
        "batch_size": 32,
        "lr": cfg["lr"],
        "seed": cfg["seed"],
        "codec": "none",
        "deadline": {"mode": "fixed", "seconds": cfg["deadline_s"]},
        "eval_every": 1,
        "eval_samples": 2000,
    }


def devices(cfg: dict[str, Any]) -> dict[str, str]:
    """Each UE's device class, as the UE processes deal them (index and seed)."""
    mix = parse_mix(cfg["device_mix"])
    return {gpsi_for(i): device_class(i, cfg["seed"], mix) for i in range(cfg["ues"])}


def summarise(policy: str, result: dict[str, Any], target: float, dev: dict[str, str]) -> dict[str, Any]:
    rounds = result["rounds"]
    o = outcomes(rounds)
    ues = [u for r in rounds for u in r["ues"]]
    bands = [u["nef"].get("location", {}).get("band") for u in ues]
    ul = [u["actual_ul_s"] for u in ues if u.get("actual_ul_s") is not None]
    qos = [u["nef"].get("qos", {}).get("status") for u in ues]
    return {
        "policy": policy,
        "rounds": len(rounds),
        "selected": o.selected,
        "on_time": o.on_time,
        "late": o.late,
        "missing": o.missing,
        "compliance": o.compliance,
        "selected_per_round": o.selected / max(1, len(rounds)),
        "on_time_per_round": o.on_time / max(1, len(rounds)),
        "fr2_share": sum(b == "FR2" for b in bands) / max(1, len(bands)),
        "median_ul_s": sorted(ul)[len(ul) // 2] if ul else None,
        "qos_boosts": sum(q not in (None, "not_requested") for q in qos),
        "mean_round_s": sum(r["duration_s"] for r in rounds) / max(1, len(rounds)),
        "time_to_target_s": time_to(rounds, target),
        "final_accuracy": final_accuracy(rounds),
        "nef_degraded_rounds": sum(bool(r["nef_degraded"]) for r in rounds),
        "device_share": {c: sum(dev[u["gpsi"]] == c for u in ues) / max(1, len(ues)) for c in DEVICE_CLASSES},
        **energy(rounds, dev),
    }


def energy(rounds: list[dict[str, Any]], dev: dict[str, str]) -> dict[str, Any]:
    """Reported joules per selected UE per round, per on-time update, and the AF's mean prediction;
    and the radio's part: each UE's device UL/DL powers times its update's measured transfer times."""
    per_round = [sum(u.get("energy_j") or 0.0 for u in r["ues"]) / len(r["ues"]) for r in rounds if r["ues"]]
    ues = [u for r in rounds for u in r["ues"]]
    total = sum(u.get("energy_j") or 0.0 for u in ues)
    on_time = sum(u["outcome"] == "on_time" for u in ues)
    predicted = [u["predicted_energy_j"] for u in ues if u.get("predicted_energy_j") is not None]
    radio = [
        DEVICE_CLASSES[dev[u["gpsi"]]].ul_power_w * u["actual_ul_s"]
        + DEVICE_CLASSES[dev[u["gpsi"]]].dl_power_w * (u.get("actual_dl_s") or 0.0)
        for u in ues
        if u.get("energy_j") is not None and u.get("actual_ul_s") is not None
    ]
    return {
        "energy_j_per_ue_round": sum(per_round) / len(per_round) if per_round else None,
        "energy_j_per_on_time": total / on_time if on_time else None,
        "energy_j_total": total,
        "predicted_energy_j_mean": sum(predicted) / len(predicted) if predicted else None,
        "radio_energy_j_per_update": sum(radio) / len(radio) if radio else None,
    }


def main() -> None:
    args = parser("selection", __doc__).parse_args()
    cfg: dict[str, Any] = {
        "ues": 60,
        "processes": 2,
        "train_workers": 32,
        "rounds": 25,
        "warmup_rounds": 2,
        "k": 20,
        "local_steps": 2,
        "lr": 0.1,
        "deadline_s": 2.0,
        "seed": 0,
        "target_accuracy": 0.6,
        "device_mix": TYPICAL_MIX,
    }
    if args.quick:
        cfg.update(ues=30, k=10, rounds=2, warmup_rounds=1, target_accuracy=0.2)
    results: dict[str, dict[str, Any]] = {}
    raw: dict[str, Any] = {}
    dev = devices(cfg)
    env = {"UE_DEVICE_MIX": cfg["device_mix"]}

    def warmup(st: Any) -> None:
        run_job(st, spec(cfg, "random") | {"rounds": cfg["warmup_rounds"], "eval_every": 1000})

    def one(policy: str, st: Any) -> None:
        console.print(f"[bold]{policy}[/bold]: {cfg['rounds']} rounds with {cfg['ues']} UEs")
        warmup(st)
        res = run_job(st, spec(cfg, policy))
        results[policy] = summarise(policy, res, cfg["target_accuracy"], dev)
        raw[policy] = res["rounds"]

    def fresh() -> Any:
        return stack(
            cfg["ues"], processes=cfg["processes"], seed=cfg["seed"], workers=cfg["train_workers"], env=env
        )

    if args.quick:  # one stack for all: starting 50 UEs three times does not fit in a minute
        with fresh() as st:
            for policy in POLICIES:
                one(policy, st)
    else:
        for policy in POLICIES:
            with fresh() as st:
                one(policy, st)
    base = results["random"]["time_to_target_s"]
    joules = results["deadline"]["energy_j_per_ue_round"]
    for r in results.values():
        t = r["time_to_target_s"]
        r["tta_ratio_vs_random"] = t / base if (t is not None and base) else None
        j = r["energy_j_per_ue_round"]
        r["energy_ratio_vs_deadline"] = j / joules if (j is not None and joules) else None
    cols = [
        "policy",
        "selected/rnd",
        "on time/rnd",
        "compliance",
        "late",
        "missing",
        "FR2 share",
        "median UL s",
        "QoS boosts",
        "round s",
        "TTA s",
        "TTA / random",
        "final acc %",
        "J/UE/rnd",
        "J/on-time",
        "J vs deadline",
        "pred J/UE",
        "radio J/upd",
        "flag/mid/tab/veh %",
    ]
    rows = [
        [
            r["policy"],
            r["selected_per_round"],
            r["on_time_per_round"],
            r["compliance"],
            r["late"],
            r["missing"],
            r["fr2_share"],
            r["median_ul_s"] if r["median_ul_s"] is not None else "-",
            r["qos_boosts"],
            r["mean_round_s"],
            r["time_to_target_s"] if r["time_to_target_s"] is not None else "not reached",
            r["tta_ratio_vs_random"] if r["tta_ratio_vs_random"] is not None else "-",
            (r["final_accuracy"] or 0) * 100,
            _or_dash(r["energy_j_per_ue_round"]),
            _or_dash(r["energy_j_per_on_time"]),
            _or_dash(r["energy_ratio_vs_deadline"]),
            _or_dash(r["predicted_energy_j_mean"]),
            _or_dash(r["radio_energy_j_per_update"]),
            "/".join(f"{100 * share:.0f}" for share in r["device_share"].values()),
        ]
        for r in results.values()
    ]
    title = (
        f"selection: {cfg['ues']} UEs, k={cfg['k']}, deadline {cfg['deadline_s']} s, "
        f"target {cfg['target_accuracy'] * 100:.0f} %"
    )
    console.print(table(title, cols, rows))
    save("selection", {"config": cfg, "quick": args.quick, "results": results, "rounds": raw})


def _or_dash(x: float | None) -> float | str:
    return "-" if x is None else x


if __name__ == "__main__":
    main()
