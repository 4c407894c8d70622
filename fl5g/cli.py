"""The ``fl5g`` command line."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from fl5g.commands import plan, radio
from fl5g.serve import Service, serve

app = typer.Typer(
    help="Real-time federated learning over 5G (3GPP TR 22.874 clause 7.1).", no_args_is_help=True
)
console = Console()


@app.command("serve")
def serve_cmd(
    service: Annotated[str, typer.Argument(help="af, nef or ue")],
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int | None, typer.Option(help="port (default af 8080, nef 8081, ue 8082)")] = None,
    scenario: Annotated[Path | None, typer.Option(help="nef: radio scenario YAML")] = None,
    count: Annotated[int | None, typer.Option(help="ue: how many UEs this process hosts")] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning")] = "info",
) -> None:
    """Run one service (the container entry point)."""
    import os

    if service not in ("af", "nef", "ue"):
        raise typer.BadParameter("service must be af, nef or ue", param_hint="SERVICE")
    if scenario is not None:
        os.environ["NEF_SCENARIO"] = str(scenario)
    if count is not None:
        os.environ["UE_COUNT"] = str(count)
    svc: Service = service  # type: ignore[assignment]
    serve(svc, host, port, log_level)


@app.command("demo")
def demo_cmd(
    ues: Annotated[int, typer.Option(help="UE agents")] = 10,
    rounds: Annotated[int, typer.Option(help="FL rounds")] = 25,
    seed: Annotated[int, typer.Option(help="seed of data split, model init and radio")] = 0,
    alpha: Annotated[float, typer.Option(help="Dirichlet non-IID concentration")] = 0.5,
    local_steps: Annotated[int, typer.Option(help="local SGD steps per round")] = 25,
    batch_size: Annotated[int, typer.Option(help="local mini-batch")] = 32,
    lr: Annotated[float, typer.Option(help="local learning rate")] = 0.05,
    model: Annotated[str, typer.Option(help="registry name")] = "smallcnn",
    ues_per_round: Annotated[int | None, typer.Option(help="UEs selected per round (default all)")] = None,
    selection: Annotated[str, typer.Option(help="random, deadline, utility, energy, all")] = "deadline",
    max_energy_j: Annotated[
        float | None, typer.Option(help="per-UE cap on the predicted joules of a round (default none)")
    ] = None,
    codec: Annotated[str, typer.Option(help="none, int8, topk")] = "none",
    density: Annotated[
        float | None, typer.Option(help="topk: target share of values sent (default: the byte budget)")
    ] = None,
    topk_values: Annotated[str, typer.Option(help="topk: f32, int8 or sign")] = "f32",
    report: Annotated[Path, typer.Option(help="directory for report.json")] = Path("out"),
) -> None:
    """Start the NEF mock, the AF and the UE agents; run one FL job; report; shut down."""
    from fl5g.demo import final_table, plot_report, run_job, write_report
    from fl5g.launcher import Stack

    spec = {
        "model": model,
        "rounds": rounds,
        "ues_per_round": ues_per_round or ues,
        "local_steps": local_steps,
        "batch_size": batch_size,
        "lr": lr,
        "seed": seed,
        "selection": selection,
        "codec": codec,
    }
    if max_energy_j is not None:
        spec["max_energy_j"] = max_energy_j
    if codec == "topk":
        spec.update(density=density, topk_values=topk_values)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    t0 = time.monotonic()
    console.print(
        f"[bold]fl5g demo[/]: {ues} UEs, {rounds} rounds, alpha={alpha}, seed={seed}, model={model}"
    )
    try:
        with Stack(ues=ues, alpha=alpha, seed=seed) as stack:
            console.print(
                f"NEF mock {stack.nef_url}  AF {stack.af_url}  UE processes: "
                f"{sum(1 for p in stack.procs if p.name.startswith('ue'))}"
            )
            stack.wait_ues_registered()
            result = run_job(stack, spec, console)
            wall = time.monotonic() - t0
            out = write_report(report, result, stack, wall)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: all services stopped[/]")
        raise typer.Exit(130) from None
    png = plot_report(out)
    console.print(final_table(result))
    job = result["job"]
    console.print(
        f"job {job['status']}: accuracy {100 * (job.get('accuracy') or 0):.2f} %, {wall:.1f} s; "
        f"report {out}" + (f", plot {png}" if png else "")
    )
    if job["status"] != "completed":
        raise typer.Exit(1)


plan.register(app)
radio.register(app)

if __name__ == "__main__":
    app()
