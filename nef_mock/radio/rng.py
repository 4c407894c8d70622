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
_S30, _S27, _S31, _S11, _S32 = (np.uint64(k) for k in (30, 27, 31, 11, 32))
_LOW32 = np.uint64(0xFFFFFFFF)
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
    """The splitmix64 finaliser: a bijection that scrambles every input bit into every output bit.

    ``x`` must be an array: numpy wraps uint64 array arithmetic silently, as wanted here.
    """
    z = x + _GOLDEN
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    out: U64 = z ^ (z >> _S31)
    return out


def _counter(step: int, stream: int, lanes: int) -> U64:
    base = ((step * _STEP) ^ (stream * _STREAM)) & 0xFFFFFFFFFFFFFFFF
    return mix(np.uint64(base) + np.arange(lanes, dtype=np.uint64))


def bits(keys: U64, step: int, stream: int, lanes: int = 1) -> U64:
    """Raw 64-bit draws, shape ``(len(keys), lanes)``."""
    return mix(keys[:, None] ^ _counter(step, stream, lanes)[None, :])


def uniform(keys: U64, step: int, stream: int, lanes: int = 1) -> F64:
    """U[0, 1) draws, shape ``(len(keys), lanes)``."""
    return (bits(keys, step, stream, lanes) >> _S11).astype(np.float64) * (2.0**-53)


def normal(keys: U64, step: int, stream: int, lanes: int = 1) -> F64:
    """N(0, 1) draws (Box-Muller on the two 32-bit halves of one draw), shape ``(len(keys), lanes)``."""
    b = bits(keys, step, stream, lanes)
    u1 = ((b >> _S32).astype(np.float64) + 1.0) * (2.0**-32)  # (0, 1]: log stays finite
    u2 = (b & _LOW32).astype(np.float64) * (2.0**-32)
    out: F64 = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
    return out


def derive(keys: U64, salt: int, lanes: int) -> U64:
    """Independent child keys, e.g. one per Monte-Carlo sample: shape ``(len(keys) * lanes,)``."""
    return bits(keys, salt, FORECAST, lanes).reshape(-1)
