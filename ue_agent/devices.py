"""Device classes for a heterogeneous fleet, and which class each fleet UE gets (``UE_DEVICE_MIX``).

The watts of ``flcore.energy.EnergyModel`` per class. They are typical figures reasoned from public
sources, not measured here:

- ``flagship``: a recent flagship phone that trains on its NPU/GPU. Phone SoCs are held to about
  4-5 W sustained by their thermal envelope, and an NPU reaches a given throughput at a fraction of
  the CPU's power, so 2.5 W while training. Its 5G modem: 2.5 W transmitting, 1.2 W receiving (the
  agents' defaults; on the order of the active-transfer powers measured on 5G phones by Xu et al.,
  SIGCOMM 2020, and Narayanan et al., SIGCOMM 2021, uplink costing more than downlink).
- ``midrange``: a mid-range phone training on its CPU/GPU near the sustained limit, 4 W (the agents'
  default), with an older, less efficient modem and RF front end: 3.0 W / 1.5 W.
- ``tablet``: a tablet or thin laptop with a 5G module: a larger SoC with more thermal room (fanless
  tablets and 15 W laptop parts), 8 W while training; radio 3.0 W / 1.5 W; 0.3 W idle for a
  bigger system that stays awake.
- ``vehicle``: a vehicle computer (an embedded GPU module such as NVIDIA's Jetson class, whose
  power modes run from 10-15 W to 60 W) at 15 W while training, with a telematics unit of power
  class 2 (26 dBm instead of a phone's 23 dBm, TS 38.101-1) on a roof antenna: 4.0 W / 2.0 W; 1 W
  idle for an always-on ECU.

A class sets the powers only: every UE's compute time is what its training takes on the host that
runs it (a faster SoC finishing sooner is not modelled).

``UE_DEVICE_MIX`` is ``class:weight`` pairs, e.g. ``flagship:3,midrange:4,tablet:2,vehicle:1``
(a bare ``class`` is weight 1; empty: every UE has the ``UE_*_POWER_W`` settings' device). UE indices
fall in consecutive blocks of the weights' sum, and each block holds every class exactly its weight
of times, in an order shuffled by (seed, block): any fleet of whole blocks has the stated proportions
exactly, the class of a UE depends only on its index and the seed (not on which process hosts it),
and it does not line up with index patterns of the radio scenario.
"""

from __future__ import annotations

import random

from flcore.energy import EnergyModel

DEVICE_CLASSES: dict[str, EnergyModel] = {
    "flagship": EnergyModel(train_power_w=2.5, ul_power_w=2.5, dl_power_w=1.2, idle_power_w=0.05),
    "midrange": EnergyModel(train_power_w=4.0, ul_power_w=3.0, dl_power_w=1.5, idle_power_w=0.05),
    "tablet": EnergyModel(train_power_w=8.0, ul_power_w=3.0, dl_power_w=1.5, idle_power_w=0.3),
    "vehicle": EnergyModel(train_power_w=15.0, ul_power_w=4.0, dl_power_w=2.0, idle_power_w=1.0),
}
TYPICAL_MIX = "flagship:3,midrange:4,tablet:2,vehicle:1"
MAX_BLOCK = 1000

Mix = tuple[tuple[str, int], ...]


def parse_mix(text: str) -> Mix:
    """``class:weight,...`` as (class, weight) pairs; ``()`` for an empty text (no mix)."""
    text = text.strip()
    if not text:
        return ()
    pairs: list[tuple[str, int]] = []
    for item in text.split(","):
        name, sep, weight = (part.strip() for part in item.partition(":"))
        if name not in DEVICE_CLASSES:
            known = ", ".join(DEVICE_CLASSES)
            raise ValueError(f"UE_DEVICE_MIX: unknown device class {name!r} (known: {known})")
        if any(name == n for n, _ in pairs):
            raise ValueError(f"UE_DEVICE_MIX: device class {name!r} given twice")
        if not sep:
            weight = "1"
        if not weight.isdigit() or int(weight) < 1:
            raise ValueError(f"UE_DEVICE_MIX: weight of {name!r} must be a whole number >= 1, not {weight!r}")
        pairs.append((name, int(weight)))
    if sum(w for _, w in pairs) > MAX_BLOCK:
        raise ValueError(f"UE_DEVICE_MIX: the weights add up to more than {MAX_BLOCK}")
    return tuple(pairs)


def device_class(index: int, seed: int, mix: Mix) -> str:
    """The class of UE ``index``: its slot in its block of ``sum(weights)`` indices, shuffled by seed."""
    if not mix:
        raise ValueError("no device mix")
    slots = [name for name, weight in mix for _ in range(weight)]
    block, slot = divmod(index, len(slots))
    random.Random(f"fl5g-devices:{seed}:{block}").shuffle(slots)
    return slots[slot]
