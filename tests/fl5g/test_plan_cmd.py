"""``fl5g plan``: the TR table from the command line, any model, JSON output, refusals."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner, Result

from fl5g.commands.plan import register


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.command("noop")  # a second command, so that ``plan`` stays a named sub-command
    def noop() -> None:
        pass

    return app


def run(app: typer.Typer, *args: str) -> Result:
    return CliRunner().invoke(app, ["plan", *args], env={"COLUMNS": "200"})


def test_tr22874_table(app):
    r = run(app, "--model", "vgg16_bn", "--bits", "8", "--tr22874")
    assert r.exit_code == 0, r.output
    lines = [ln for ln in r.output.splitlines() if "│" in ln]
    cells = [[c.strip() for c in ln.strip("│ ").split("│")] for ln in lines]
    assert [c[:4] for c in cells] == [
        ["64", "325", "<162", "6.5"],
        ["32", "191", "<95", "11.1"],
        ["16", "131", "<65", "16.2"],
        ["8", "111", "<55", "19.2"],
        ["4", "105", "<52", "20.3"],
    ]
    assert "131.96 MiB" in r.output


def test_tr22874_json_with_the_trs_link_rates(app):
    r = run(app, "--tr22874", "--ul-rate", "73.15Mbps", "--dl-rate", "144.34 Mbps", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["model"] == "vgg16_bn" and out["bits"] == 8 and out["convention"] == "tr22874"
    assert [row["budgetMs"] for row in out["rows"]] == [162, 95, 65, 55, 52]
    assert [row["requiredGbps"] for row in out["rows"]] == [6.5, 11.1, 16.2, 19.2, 20.3]
    assert out["ulRateBps"] == 73.15e6 and out["dlRateBps"] == 144.34e6
    assert 89 < out["rows"][0]["ulRatio"] < 90 and 45 < out["rows"][0]["dlRatio"] < 46


def test_any_model_by_parameter_count(app):
    r = run(app, "--params", "421642", "--bits", "32", "--compute-ms", "300", "--compute-ms", "100",
            "--batch", "32", "--batch", "8", "--ul-rate", "50Mbps", "--aggregation-ms", "20", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["payloadBytes"] == 421642 * 4 and out["convention"] == "si"
    assert [(row["batch"], row["budgetMs"]) for row in out["rows"]] == [(32, 130), (8, 30)]
    assert out["rows"][1]["requiredBps"] == pytest.approx(421642 * 32 / 0.030)
    assert out["rows"][1]["ulRatio"] == pytest.approx(421642 * 32 / 0.030 / 50e6)


def test_table_shows_ratios(app):
    r = run(app, "--model", "smallcnn", "--compute-ms", "20", "--ul-rate", "10Mbps")
    assert r.exit_code == 0, r.output
    assert "UL ratio @ 10 Mbps" in r.output and "x" in r.output


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (["--compute-ms", "100"], "--model"),
        (["--model", "nope", "--compute-ms", "100"], "--model"),
        (["--model", "smallcnn", "--params", "5", "--compute-ms", "100"], "--model"),
        (["--model", "smallcnn"], "--compute-ms"),
        (["--model", "smallcnn", "--compute-ms", "100", "--ul-rate", "fast"], "--ul-rate"),
        (["--model", "smallcnn", "--compute-ms", "100", "--batch", "1", "--batch", "2"], "--batch"),
        (["--model", "smallcnn", "--compute-ms", "100", "--aggregation-ms", "60"], "--aggregation-ms"),
    ],
)
def test_bad_input_names_the_option(app, args, hint):
    r = run(app, *args)
    assert r.exit_code == 2
    assert hint in r.output
