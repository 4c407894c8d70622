"""``fl5g radio peak-rate`` through typer's CliRunner."""

from __future__ import annotations

import json
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from fl5g.commands.radio import register


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.command()
    def other() -> None:  # a second command keeps typer from collapsing the group
        """Nothing."""

    return app


@pytest.mark.parametrize(
    ("args", "out"),
    [
        (
            [
                "--fr",
                "2",
                "--bandwidth-mhz",
                "400",
                "--scs-khz",
                "120",
                "--layers",
                "2",
                "--qam",
                "256",
                "--direction",
                "dl",
            ],
            "4.31 Gbps",
        ),
        (
            [
                "--fr",
                "2",
                "--bandwidth-mhz",
                "400",
                "--scs-khz",
                "120",
                "--layers",
                "1",
                "--qam",
                "64",
                "--direction",
                "ul",
            ],
            "1.77 Gbps",
        ),
        (
            [
                "--fr",
                "1",
                "--bandwidth-mhz",
                "100",
                "--scs-khz",
                "30",
                "--layers",
                "4",
                "--qam",
                "256",
                "--direction",
                "dl",
            ],
            "2.34 Gbps",
        ),
    ],
)
def test_peak_rate(app: typer.Typer, args: Any, out: Any) -> None:
    result = CliRunner().invoke(app, ["radio", "peak-rate", *args])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == out


def test_peak_rate_json_and_scaling(app: typer.Typer) -> None:
    args = [
        "radio",
        "peak-rate",
        "--fr",
        "1",
        "--bandwidth-mhz",
        "100",
        "--scs-khz",
        "30",
        "--layers",
        "4",
        "--qam",
        "256",
        "--direction",
        "dl",
        "--scaling",
        "0.75",
        "--json",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["nPrb"] == 273 and data["overhead"] == 0.14 and data["numerology"] == 1
    assert data["rateGbps"] == pytest.approx(0.75 * 2.337, abs=1e-3)


@pytest.mark.parametrize(
    ("extra", "hint"),
    [
        (["--fr", "1", "--bandwidth-mhz", "400", "--scs-khz", "120"], "bandwidth"),
        (["--fr", "2", "--bandwidth-mhz", "400", "--scs-khz", "120", "--scaling", "0.5"], "scaling"),
        (["--fr", "3", "--bandwidth-mhz", "400", "--scs-khz", "120"], "--fr"),
    ],
)
def test_peak_rate_refuses_bad_input(app: typer.Typer, extra: Any, hint: Any) -> None:
    result = CliRunner().invoke(
        app, ["radio", "peak-rate", *extra, "--layers", "1", "--qam", "64", "--direction", "ul"]
    )
    assert result.exit_code == 2
    assert hint in result.output
