"""The registration schema's device energy profile: validated where the UE declares it."""

from __future__ import annotations

import math
from typing import Any

import pytest
from pydantic import ValidationError

from flcore.energy import EnergyModel
from flcore.protocol import MAX_POWER_W, EnergyProfile, UeRegistration

GOOD = {"train_power_w": 4.0, "ul_power_w": 2.5, "dl_power_w": 1.2}


def test_a_profile_is_optional_and_becomes_the_energy_model() -> None:
    assert UeRegistration(gpsi="msisdn-910000000001", num_samples=10).energy_profile is None
    reg = UeRegistration.model_validate(
        {"gpsi": "msisdn-910000000001", "num_samples": 10, "energy_profile": GOOD}
    )
    assert reg.energy_profile is not None
    assert reg.energy_profile.model() == EnergyModel(4.0, 2.5, 1.2, 0.0)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("ul_power_w", -0.1),
        ("train_power_w", math.nan),
        ("dl_power_w", math.inf),
        ("ul_power_w", MAX_POWER_W + 1),
        ("idle_power_w", -1.0),
        ("train_power_w", "hot"),
        ("radio_power_w", 1.0),  # not a field of the profile
    ],
)
def test_a_bad_profile_is_refused_naming_its_field(field: str, value: Any) -> None:
    with pytest.raises(ValidationError) as exc:
        EnergyProfile.model_validate(GOOD | {field: value})
    assert [e["loc"] for e in exc.value.errors()] == [(field,)]


def test_a_profile_needs_the_three_active_states() -> None:
    with pytest.raises(ValidationError) as exc:
        EnergyProfile.model_validate({"train_power_w": 4.0})
    assert {e["loc"] for e in exc.value.errors()} == {("ul_power_w",), ("dl_power_w",)}
    # the upper bound itself, and zero, are fine
    EnergyProfile.model_validate({"train_power_w": MAX_POWER_W, "ul_power_w": 0, "dl_power_w": 0})
