"""The whole loop as a user runs it: real processes, real HTTP, real Redis, real images."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def test_demo_trains_well_above_chance_and_reports(tmp_path, redis_url):
    out = tmp_path / "out"
    env = {**os.environ, "FL5G_REDIS_URL": redis_url, "AF_REDIS_PREFIX": f"e2e-{os.getpid()}"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "fl5g.cli",
            "demo",
            "--ues",
            "4",
            "--rounds",
            "3",
            "--local-steps",
            "20",
            "--report",
            str(out),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    rounds = report["rounds"]
    assert [r["round"] for r in rounds] == [0, 1, 2]
    for r in rounds:
        assert r["selected"], r
        assert set(r["outcomes"]) == set(r["selected"])
        assert set(r["outcomes"].values()) <= {"on_time", "late", "missing", "rejected"}
        assert r["accuracy"] is not None
    assert report["job"]["status"] == "completed"
    # chance is 10 % on ten classes; three short non-IID rounds get far past it
    assert rounds[-1]["accuracy"] > 0.5
    assert rounds[-1]["accuracy"] > rounds[0]["accuracy"] - 0.05
    assert sum(v == "on_time" for r in rounds for v in r["outcomes"].values()) >= 3
    assert (out / "report.png").is_file()
