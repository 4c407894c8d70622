"""Counter-based random numbers: each draw is a pure function of (seed, GPSI, step, stream, lane).

A per-UE generator object per step would cost a Python call per UE; hashing a counter instead
vectorises over UEs and keeps every UE's trajectory independent of which other UEs exist and of
when the model is queried.
"""

from __future__ import annotations

import hashlib

import numpy as np
from numpy.typing import NDArray

U64 = NDArray[np.uint64]
F64 = NDArray[np.float64]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_STEP = 0xD1B54A32D192ED03
_STREAM = 0x8CB92BA72F3D8DD7

# Streams; a new kind of draw takes a new number so that old draws stay as they were.
SPAWN = 1
BLOCKAGE = 2
LOS = 3
SHADOW_A = 4
SHADOW_B = 5
WAYPOINT = 6
PAUSE = 7
CLASS = 8
FORECAST = 9


def ue_key(seed: int, gpsi: str) -> int:
    """A stable 64-bit key for one UE (blake2b, unlike ``hash()`` the same in every process)."""
    digest = hashlib.blake2b(f"{seed}/{gpsi}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def mix(x: U64) -> U64:
    """The splitmix64 finaliser: a bijection that scrambles every input bit into every output bit."""
    with np.errstate(over="ignore"):
        z = x + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        return z ^ (z >> np.uint64(31))


def _counter(step: int, stream: int, lanes: int) -> U64:
    base = ((step * _STEP) ^ (stream * _STREAM)) & 0xFFFFFFFFFFFFFFFF
    return mix(np.uint64(base) + np.arange(lanes, dtype=np.uint64))


def bits(keys: U64, step: int, stream: int, lanes: int = 1) -> U64:
    """Raw 64-bit draws, shape ``(len(keys), lanes)``."""
    return mix(keys[:, None] ^ _counter(step, stream, lanes)[None, :])


def uniform(keys: U64, step: int, stream: int, lanes: int = 1) -> F64:
    """U[0, 1) draws, shape ``(len(keys), lanes)``."""
    return (bits(keys, step, stream, lanes) >> np.uint64(11)).astype(np.float64) * (2.0**-53)


def normal(keys: U64, step: int, stream: int, lanes: int = 1) -> F64:
    """N(0, 1) draws (Box-Muller), shape ``(len(keys), lanes)``."""
    u1 = 1.0 - uniform(keys, step, stream, lanes)
    u2 = uniform(keys, step, stream + 1000, lanes)
    out: F64 = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
    return out


def derive(keys: U64, salt: int, lanes: int) -> U64:
    """Independent child keys, e.g. one per Monte-Carlo sample: shape ``(len(keys) * lanes,)``."""
    return bits(keys, salt, FORECAST, lanes).reshape(-1)
