"""Scenario files: the packaged default and the checks that refuse a bad one."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from nef_mock.radio import RadioModel, Scenario, load_scenario

from .conftest import FakeClock, scenario


def test_default_scenario_has_the_shape_the_issue_asks_for() -> None:
    sc = load_scenario(None)
    fr1 = [c for c in sc.cells if c.band == "FR1"]
    fr2 = [c for c in sc.cells if c.band == "FR2"]
    assert 1 <= len(fr1) <= 3 and len(fr2) >= 3
    assert sc.population.count >= 60 and all(
        sc.population.mix[c] > 0 for c in ("static", "pedestrian", "vehicle")
    )
    assert {(c.bandwidth_mhz, c.scs_khz) for c in fr2} == {(400, 120)}
    assert sc.bands["FR2"].carrier_ghz == 28 and sc.bands["FR2"].environment == "UMi"
    model = RadioModel(sc, clock=FakeClock())
    links = model.links()
    assert len(links) == sc.population.count
    assert links[0].gpsi == "msisdn-910000000000"  # the launcher's names
    bands = {link.band for link in links}
    assert bands == {"FR1", "FR2"}  # patchy FR2: selection matters


def test_scenario_from_a_file(tmp_path: Path) -> None:
    text = (Path(__file__).parents[3] / "nef_mock/radio/scenarios/default.yaml").read_text()
    path = tmp_path / "s.yaml"
    path.write_text(text.replace("seed: 2024", "seed: 99"))
    assert load_scenario(path).seed == 99
    assert load_scenario(str(path)).name == load_scenario(None).name
    path.write_text("- just a list\n")
    with pytest.raises(ValueError, match="mapping"):
        load_scenario(path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {
                "cells": [
                    {
                        "cell_id": "12",
                        "tac": "0001",
                        "band": "FR2",
                        "position": [0, 0],
                        "bandwidth_mhz": 400,
                        "scs_khz": 120,
                    }
                ]
            },
            "9 hex digits",
        ),
        (
            {
                "cells": [
                    {
                        "cell_id": "000000001",
                        "tac": "1",
                        "band": "FR2",
                        "position": [0, 0],
                        "bandwidth_mhz": 400,
                        "scs_khz": 120,
                    }
                ]
            },
            "4 hex digits",
        ),
        (
            {
                "cells": [
                    {
                        "cell_id": "000000001",
                        "tac": "0001",
                        "band": "FR2",
                        "position": [0, 0],
                        "bandwidth_mhz": 300,
                        "scs_khz": 120,
                    }
                ]
            },
            "no 300 MHz channel",
        ),
        (
            {
                "cells": [
                    {
                        "cell_id": "000000001",
                        "tac": "0001",
                        "band": "FR2",
                        "position": [0, 0],
                        "bandwidth_mhz": 400,
                        "scs_khz": 120,
                    }
                ]
                * 2
            },
            "appears twice",
        ),
        ({"cells": []}, "at least one cell"),
        ({"bands": {"FR1": {"carrier_ghz": 3.5}}}, "no FR2 profile"),
        ({"population": {"mix": {"static": 0, "pedestrian": 0, "vehicle": 0}}}, "positive sum"),
        ({"selection": {"metric": "SNR"}}, "metric"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_bad_scenarios_are_refused_with_a_reason(change: Any, message: Any) -> None:
    data = {**scenario().model_dump(), **change}
    with pytest.raises(ValidationError, match=message):
        Scenario.model_validate(data)


def test_500_ues_stay_cheap() -> None:
    """link() of 500 UEs after 10 s of model time (100 steps) must stay well below a second."""
    sc = load_scenario(None)
    sc = sc.model_copy(update={"population": sc.population.model_copy(update={"count": 500})})
    clock = FakeClock()
    model = RadioModel(sc, clock=clock)
    clock.advance(10.0)
    t0 = time.perf_counter()
    links = [model.link(g) for g in model.gpsis()]
    elapsed = time.perf_counter() - t0
    assert len(links) == 500
    assert elapsed < 1.0, f"{elapsed:.3f} s"  # about 0.1 s on a shared 2-core box; generous for CI noise


def test_explicit_ues_are_attached_at_start_as_listed() -> None:
    sc = scenario(
        population={
            "count": 2,
            "ues": [{"gpsi": "msisdn-777000001", "mobility": "static", "position": [20, 0]}],
        }
    )
    model = RadioModel(sc, clock=FakeClock())
    assert model.gpsis() == ["msisdn-777000001", "msisdn-910000000000", "msisdn-910000000001"]
    ue = model.link("msisdn-777000001")
    assert (ue.mobility, ue.position, ue.band) == ("static", (20.0, 0.0), "FR2")
