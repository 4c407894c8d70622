"""The whole system against the same training in one process: the overhead of HTTP and services.

Both sides train the same UEs on the same partitions with the same seeds, batch order, local steps
and parallelism (one torch thread per UE, as many UEs at once as there are UE processes); the
system adds the AF, the NEF mock, Redis and HTTP. Radio pacing is off here so the figure is the
software overhead, not modelled air time.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch

from bench.common import console, parser, save, table
from flcore.data import dirichlet_partition, load_fashion_mnist, stratified_subset
from flcore.models import build_model, float_state
from flcore.training import batch_rng, delta, evaluate, train_local


def in_process(cfg: dict[str, Any]) -> list[dict[str, float]]:
    torch.set_num_threads(1)
    train, test = load_fashion_mnist("train"), load_fashion_mnist("test")
    parts = dirichlet_partition(train.labels, cfg["ues"], cfg["alpha"], cfg["seed"])
    data = [train.subset(p) for p in parts]
    global_model = build_model(cfg["model"], seed=cfg["seed"])
    workers = cfg["workers"]
    locals_ = [build_model(cfg["model"]) for _ in range(workers)]
    rows = []
    with ThreadPoolExecutor(workers) as pool:
        for rnd in range(cfg["rounds"]):
            t0 = time.perf_counter()
            base = {k: v.clone() for k, v in float_state(global_model).items()}

            def one(
                i: int, base: dict[str, torch.Tensor] = base, rnd: int = rnd
            ) -> tuple[dict[str, torch.Tensor], int]:
                m = locals_[i % workers]
                m.load_state_dict(base, strict=False)
                train_local(
                    m,
                    data[i],
                    steps=cfg["local_steps"],
                    batch_size=cfg["batch_size"],
                    lr=cfg["lr"],
                    rng=batch_rng(cfg["seed"], rnd, i),
                )
                return delta(float_state(m), base), len(data[i])

            # one UE per worker at a time, like one UE process per core
            results = []
            for start in range(0, cfg["ues"], workers):
                results += list(pool.map(one, range(start, min(start + workers, cfg["ues"]))))
            total = sum(w for _, w in results)
            with torch.no_grad():
                state = global_model.state_dict()
                for name in base:
                    state[name].add_(sum(d[name] * w for d, w in results) / total)
            # the AF's rule: a fixed stratified subset each round, the whole test set at the end
            final = rnd + 1 == cfg["rounds"]
            acc, _ = evaluate(global_model, test if final else stratified_subset(test, cfg["eval_samples"]))
            rows.append({"round": rnd, "seconds": time.perf_counter() - t0, "accuracy": acc})
            console.print(f"in-process round {rnd}: {acc * 100:.2f} % in {rows[-1]['seconds']:.2f}s")
    return rows


def system(cfg: dict[str, Any]) -> list[dict[str, float]]:
    from fl5g.launcher import Stack

    spec = {
        "model": cfg["model"],
        "rounds": cfg["rounds"],
        "ues_per_round": cfg["ues"],
        "selection": "all",
        "local_steps": cfg["local_steps"],
        "batch_size": cfg["batch_size"],
        "lr": cfg["lr"],
        "seed": cfg["seed"],
        "deadline": {"mode": "fixed", "seconds": 600},
        "eval_samples": cfg["eval_samples"],
    }
    with Stack(
        ues=cfg["ues"], ue_processes=cfg["workers"], alpha=cfg["alpha"], seed=cfg["seed"], pace=False
    ) as stack:
        stack.wait_ues_registered()
        res = stack.run_job(spec, timeout_s=1800)
    job, rounds = res["job"], res["rounds"]
    # wall time between round ends (the first from the job's creation): selection, NEF queries,
    # dispatch and the UEs' polling count, not only the AF's dispatch-to-publish span
    rows, prev = [], job["created_at"]
    for r in rounds:
        end = r["started_at"] + r["duration_s"]
        rows.append({"round": r["round"], "seconds": end - prev, "accuracy": r["accuracy"] or 0.0})
        prev = end
    return rows


def time_to(rows: list[dict[str, float]], target: float) -> float | None:
    t = 0.0
    for r in rows:
        t += r["seconds"]
        if r["accuracy"] >= target:
            return t
    return None


def main() -> None:
    args = parser("rounds", __doc__).parse_args()
    cfg = {
        "ues": 8,
        "rounds": 12,
        "local_steps": 25,
        "batch_size": 32,
        "lr": 0.05,
        "alpha": 0.5,
        "seed": 0,
        "model": "smallcnn",
        "workers": min(2, os.cpu_count() or 1),
        "eval_samples": 2000,
    }
    if args.quick:
        cfg.update(ues=4, rounds=3, local_steps=10)
    sys_rows = system(cfg)
    ref_rows = in_process(cfg)
    target = 0.75 if not args.quick else min(r["accuracy"] for r in ref_rows[-1:]) - 0.02
    rows = []
    for s, r in zip(sys_rows, ref_rows, strict=False):
        rows.append(
            [
                s["round"],
                s["seconds"],
                r["seconds"],
                s["seconds"] / r["seconds"],
                s["accuracy"] * 100,
                r["accuracy"] * 100,
                (s["accuracy"] - r["accuracy"]) * 100,
            ]
        )
    console.print(
        table(
            "per round: system vs in-process",
            ["round", "system s", "in-process s", "ratio", "system acc %", "in-process acc %", "diff pp"],
            rows,
        )
    )
    t_sys, t_ref = time_to(sys_rows, target), time_to(ref_rows, target)
    ratio = (t_sys / t_ref) if (t_sys and t_ref) else None
    max_diff = max(abs(r[6]) for r in rows) if rows else None
    console.print(
        f"time to {target * 100:.1f} % accuracy: system {t_sys} s, in-process {t_ref} s, "
        f"overhead ratio {ratio if ratio is None else round(ratio, 3)}; max accuracy diff {max_diff} pp"
    )
    save(
        "rounds",
        {
            "config": cfg,
            "system": sys_rows,
            "in_process": ref_rows,
            "target_accuracy": target,
            "time_to_target_system_s": t_sys,
            "time_to_target_in_process_s": t_ref,
            "overhead_ratio": ratio,
            "max_accuracy_diff_pp": max_diff,
        },
    )


if __name__ == "__main__":
    main()
