"""``fl5g demo``: the whole loop on one machine, with a live progress display and a report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from fl5g.launcher import Stack


def run_job(stack: Stack, spec: dict[str, Any], console: Console, timeout_s: float = 3600) -> dict[str, Any]:
    """Run the job with a live table of its rounds; returns job + rounds."""
    with Live(_progress({}, [], spec), console=console, refresh_per_second=4, transient=True) as live:
        return stack.run_job(
            spec, timeout_s=timeout_s, on_poll=lambda job, rounds: live.update(_progress(job, rounds, spec))
        )


def _progress(
    job: dict[str, Any], rounds: list[dict[str, Any]], spec: dict[str, Any], last: int | None = 15
) -> Table:
    t = Table(
        title=f"FL job {job.get('id', '?')} [{job.get('status', '?')}] {len(rounds)}/{spec['rounds']} rounds",
        expand=False,
    )
    for col in ("round", "acc %", "time s", "deadline s", "sel", "on time", "late", "miss", "rej"):
        t.add_column(col, justify="right")
    for rd in rounds if last is None else rounds[-last:]:
        outcomes = [u["outcome"] for u in rd["ues"]]
        acc = rd.get("accuracy")
        t.add_row(
            str(rd["round"]),
            f"{acc * 100:.2f}" if acc is not None else "-",
            f"{rd['duration_s']:.2f}",
            f"{rd['deadline_s']:.2f}",
            str(len(rd["selected"])),
            str(outcomes.count("on_time")),
            str(outcomes.count("late")),
            str(outcomes.count("missing")),
            str(outcomes.count("rejected")),
        )
    return t


def write_report(path: Path, result: dict[str, Any], stack: Stack, wall_s: float) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    rounds = result["rounds"]
    report = {
        "job": result["job"],
        "wall_seconds": wall_s,
        "ues": stack.ues,
        "final_accuracy": next(
            (r["accuracy"] for r in reversed(rounds) if r.get("accuracy") is not None), None
        ),
        "rounds": [
            {
                "round": r["round"],
                "status": r["status"],
                "accuracy": r.get("accuracy"),
                "duration_s": r["duration_s"],
                "deadline_s": r["deadline_s"],
                "selection_policy": r["selection_policy"],
                "selected": r["selected"],
                "outcomes": {u["gpsi"]: u["outcome"] for u in r["ues"]},
                "over_energy_cap": r.get("over_energy_cap", {}),
                "ues": r["ues"],
            }
            for r in rounds
        ],
    }
    out = path / "report.json"
    out.write_text(json.dumps(report, indent=2))
    return out


def plot_report(report_path: Path) -> Path | None:
    """accuracy and round time per round, next to report.json (skipped without matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    report = json.loads(report_path.read_text())
    rounds = report["rounds"]
    xs = [r["round"] for r in rounds]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.5))
    a1.plot(xs, [(r["accuracy"] or 0) * 100 for r in rounds], marker="o")
    a1.set_xlabel("round")
    a1.set_ylabel("test accuracy (%)")
    a1.grid(alpha=0.3)
    a2.bar(xs, [r["duration_s"] for r in rounds], label="round time")
    a2.plot(xs, [r["deadline_s"] for r in rounds], color="red", label="deadline")
    a2.set_xlabel("round")
    a2.set_ylabel("seconds")
    a2.legend()
    a2.grid(alpha=0.3)
    fig.tight_layout()
    out = report_path.with_name("report.png")
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def final_table(result: dict[str, Any]) -> Table:
    return _progress(result["job"], result["rounds"], {"rounds": result["job"]["spec"]["rounds"]}, last=None)
