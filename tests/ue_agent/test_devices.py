"""UE_DEVICE_MIX: which device class each fleet UE gets, deterministically and in proportion."""

from __future__ import annotations

from collections import Counter

import pytest
from pydantic import ValidationError

from flcore.energy import EnergyModel
from flcore.protocol import EnergyProfile
from ue_agent.devices import DEVICE_CLASSES, TYPICAL_MIX, device_class, parse_mix
from ue_agent.settings import UeSettings

MIX = parse_mix(TYPICAL_MIX)


def test_every_class_is_a_profile_the_af_accepts() -> None:
    for model in DEVICE_CLASSES.values():
        assert EnergyProfile(**vars(model)).model() == model


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ()),
        ("  ", ()),
        ("flagship", (("flagship", 1),)),
        (" vehicle : 2 , flagship:1", (("vehicle", 2), ("flagship", 1))),
        (TYPICAL_MIX, (("flagship", 3), ("midrange", 4), ("tablet", 2), ("vehicle", 1))),
    ],
)
def test_parse_mix(text: str, expected: tuple[tuple[str, int], ...]) -> None:
    assert parse_mix(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("phone:3", "unknown device class 'phone'"),
        ("flagship:0", "weight of 'flagship' must be a whole number >= 1, not '0'"),
        ("flagship:-1", "not '-1'"),
        ("flagship:1.5", "not '1.5'"),
        ("flagship:", "not ''"),
        ("flagship:1,flagship:2", "'flagship' given twice"),
        ("flagship:1,", "unknown device class ''"),
        ("flagship:1001", "add up to more than 1000"),
    ],
)
def test_a_bad_mix_is_refused_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, text: str, message: str
) -> None:
    # Prepare
    monkeypatch.setenv("UE_DEVICE_MIX", text)
    # Execute
    with pytest.raises(ValidationError) as err:
        UeSettings()
    # Assert
    assert "UE_DEVICE_MIX" in str(err.value) and message in str(err.value)


def test_a_mix_and_explicit_powers_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UE_DEVICE_MIX", TYPICAL_MIX)
    monkeypatch.setenv("UE_UL_POWER_W", "3")
    with pytest.raises(ValidationError, match="sets each UE's powers: leave UE_UL_POWER_W unset"):
        UeSettings()


def test_without_a_mix_every_ue_has_the_power_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    assert UeSettings().device(0) == (None, EnergyModel(4.0, 2.5, 1.2, 0.05))
    monkeypatch.setenv("UE_TRAIN_POWER_W", "6.5")
    monkeypatch.setenv("UE_IDLE_POWER_W", "0.1")
    s = UeSettings()
    assert {s.device(i) for i in range(50)} == {(None, EnergyModel(6.5, 2.5, 1.2, 0.1))}


def test_with_a_mix_a_ue_gets_its_class_powers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UE_DEVICE_MIX", TYPICAL_MIX)
    monkeypatch.setenv("UE_DATA_SEED", "7")
    s = UeSettings()
    for i in range(40):
        name, model = s.device(i)
        assert name == device_class(i, 7, MIX) and model == DEVICE_CLASSES[name]


def test_the_mapping_depends_only_on_index_and_seed() -> None:
    first = [device_class(i, 0, MIX) for i in range(500)]
    # the same again, and the same when the fleet is split over processes (a later first index)
    assert [device_class(i, 0, MIX) for i in range(500)] == first
    assert [device_class(i, 0, MIX) for i in range(250, 500)] == first[250:]
    # another seed deals the classes differently
    assert [device_class(i, 1, MIX) for i in range(500)] != first


@pytest.mark.parametrize("seed", [0, 1, 2024])
def test_a_large_fleet_has_the_stated_proportions(seed: int) -> None:
    # Execute
    counts = Counter(device_class(i, seed, MIX) for i in range(10_000))
    # Assert: exact per whole block of 10, so exact here
    assert counts == {"flagship": 3000, "midrange": 4000, "tablet": 2000, "vehicle": 1000}
    # every block of 10 consecutive indices holds 3/4/2/1, whatever its order
    for block in range(0, 10_000, 10):
        assert Counter(device_class(i, seed, MIX) for i in range(block, block + 10)) == dict(MIX)


def test_the_order_within_blocks_is_not_one_repeating_pattern() -> None:
    # a repeating pattern could line up with index patterns of the radio scenario (e.g. every 10th UE
    # a vehicle); shuffled blocks do not: the class of UE i and UE i + 10 differ for many i
    pattern = [device_class(i, 0, MIX) for i in range(1000)]
    assert sum(pattern[i] != pattern[i + 10] for i in range(990)) > 300
