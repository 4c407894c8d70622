"""Shared bits of the benchmarks: argument parsing, results files, tables, peak RSS."""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

RESULTS = Path(__file__).parent / "results"
console = Console()


def parser(name: str, doc: str | None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"python -m bench.{name}", description=doc)
    p.add_argument("--quick", action="store_true", help="a smaller run that ends within about a minute")
    return p


def save(name: str, data: dict[str, Any]) -> Path:
    """``results/<name>.json``; a ``--quick`` run writes ``<name>.quick.json`` (not committed) so that it
    never replaces the full run the README quotes."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}{'.quick' if data.get('quick') else ''}.json"
    data = {"benchmark": name, "timestamp": time.time(), **data}
    path.write_text(json.dumps(data, indent=2))
    return path


def table(title: str, columns: list[str], rows: list[list[Any]]) -> Table:
    t = Table(title=title)
    for c in columns:
        t.add_column(c, justify="right")
    for r in rows:
        t.add_row(*[f"{v:.4g}" if isinstance(v, float) else str(v) for v in r])
    return t


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
