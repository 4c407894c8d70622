"""Wire format round-trips and body limits."""

from __future__ import annotations

import pytest
import torch

from flcore import wire
from flcore.models import build_model


def test_state_round_trip_is_exact():
    state = build_model("smallcnn", seed=0).state_dict()
    back = wire.bytes_to_state(wire.state_to_bytes(state, {"version": "3"}))
    assert back.keys() == state.keys()
    assert all(torch.equal(back[k], state[k]) for k in state)


def test_chunks_are_views_covering_the_body():
    body = bytes(range(256)) * 10_000
    pieces = list(wire.iter_chunks(body, chunk=4096))
    assert all(isinstance(p, memoryview) for p in pieces)
    assert b"".join(pieces) == body
    assert max(len(p) for p in pieces) == 4096


def test_garbage_is_a_body_error():
    with pytest.raises(wire.BodyError):
        wire.bytes_to_state(b"\x00\x01garbage")


@pytest.mark.parametrize(("value", "status"), [(None, 411), ("abc", 400), ("-1", 400), ("1001", 413)])
def test_content_length_checks(value, status):
    with pytest.raises(wire.BodyError) as err:
        wire.parse_content_length(value, limit=1000)
    assert err.value.status == status


async def _stream(*pieces: bytes):
    for p in pieces:
        yield p


async def test_read_exactly_refuses_long_and_short_bodies():
    assert await wire.read_exactly(_stream(b"ab", b"cd"), 4) == bytearray(b"abcd")
    with pytest.raises(wire.BodyError, match="longer"):
        await wire.read_exactly(_stream(b"abc", b"de"), 4)
    with pytest.raises(wire.BodyError, match="ended after 3"):
        await wire.read_exactly(_stream(b"abc"), 4)
