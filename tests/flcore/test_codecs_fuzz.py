"""Property tests: decoders survive any bytes, and encoders never exceed their byte budget."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from flcore.codecs import CodecError, decode, decode_into, encode, encoded_size
from flcore.models import TensorSpec

SPEC = {
    "a": TensorSpec((3, 4), torch.float32),
    "b": TensorSpec((7,), torch.float32),
    "c": TensorSpec((2, 3, 5), torch.float32),
}
CODECS: list[tuple[str, dict[str, Any]]] = [
    ("none", {}), ("int8", {}), ("int8", {"block": 5}), ("topk", {"density": 0.2}),
    ("topk", {"density": 0.2, "values": "int8", "block": 3}),
    ("topk", {"density": 0.2, "values": "sign", "block": 5}),
]
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _update(spec: Mapping[str, TensorSpec], seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {n: torch.randn(ts.shape, generator=g) for n, ts in spec.items()}


VALID = [encode(_update(SPEC, i), codec=c, **o) for i, (c, o) in enumerate(CODECS)]


def _decodes_or_refuses(body: bytes) -> None:
    """Either a clean update of the spec's shapes or a CodecError; never another exception, and a
    refused body leaves the accumulator exactly as it was."""
    acc = {n: torch.ones(ts.shape) for n, ts in SPEC.items()}
    try:
        decode_into(body, SPEC, acc, 0.5)
    except CodecError:
        assert all(torch.equal(t, torch.ones_like(t)) for t in acc.values())
        return
    out = decode(body, SPEC)
    assert {n: tuple(t.shape) for n, t in out.items()} == {n: ts.shape for n, ts in SPEC.items()}
    assert all(bool(torch.isfinite(t).all()) for t in out.values())


@FUZZ
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_are_a_codec_error(data):
    _decodes_or_refuses(data)


@FUZZ
@given(st.integers(0, (1 << 64) - 1), st.binary(max_size=256))
def test_any_header_length_is_checked_before_parsing(n, rest):
    _decodes_or_refuses(n.to_bytes(8, "little") + rest)


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=8),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
    max_leaves=12,
)
_entry = st.fixed_dictionaries({
    "dtype": st.sampled_from(["F32", "I8", "U8", "U16", "U32", "F16", "I64", "X"]),
    "shape": st.lists(st.integers(-2, 2**40), max_size=3),
    "data_offsets": st.lists(st.integers(-2, 2**40), min_size=2, max_size=2),
})


_META_KEYS = ["codec", "codec_version", "block", "numel", "k", "rice", "values", "spec"]
_META_VALUES = ["none", "int8", "topk", "1", "2", "0", "8", "f32", "sign", "-3", "99999999999"]


@FUZZ
@given(
    st.dictionaries(st.sampled_from(["a", "b", "c", "a:scale", "topk.idx_q", "topk.idx_r", "topk.val", "x"]),
                    _entry | _json, max_size=5),
    st.dictionaries(st.sampled_from(_META_KEYS), st.sampled_from(_META_VALUES) | st.text(max_size=4),
                    max_size=7),
    st.binary(max_size=512),
)
def test_structured_headers_are_checked(tensors, meta, data):
    doc = {"__metadata__": meta, **tensors}
    raw = json.dumps(doc).encode()
    _decodes_or_refuses(len(raw).to_bytes(8, "little") + raw + data)


@FUZZ
@given(st.sampled_from(range(len(VALID))), st.data())
def test_mutated_bodies_decode_cleanly_or_are_refused(which, data):
    body = bytearray(VALID[which])
    for _ in range(data.draw(st.integers(1, 4))):
        kind = data.draw(st.sampled_from(["flip", "cut", "grow", "set"]))
        pos = data.draw(st.integers(0, max(0, len(body) - 1)))
        if kind == "flip" and body:
            body[pos] ^= 1 << data.draw(st.integers(0, 7))
        elif kind == "cut":
            del body[pos:]
        elif kind == "grow":
            body[pos:pos] = data.draw(st.binary(min_size=1, max_size=16))
        elif body:
            body[pos] = data.draw(st.integers(0, 255))
    _decodes_or_refuses(bytes(body))


_specs = st.dictionaries(
    st.text("abcdefgh.", min_size=1, max_size=6),
    st.lists(st.integers(0, 40), min_size=0, max_size=3).map(tuple),
    min_size=1, max_size=5,
).map(lambda d: {n: TensorSpec(s, torch.float32) for n, s in d.items()})


@settings(max_examples=60, deadline=None)
@given(_specs, st.integers(0, 60_000), st.sampled_from(["f32", "int8", "sign"]),
       st.sampled_from(["global", "tensor"]), st.integers(0, 2**16))
def test_topk_body_never_exceeds_its_budget(spec, budget, values, mode, seed):
    upd = _update(spec, seed)
    try:
        body = encode(upd, codec="topk", byte_budget=budget, values=values, mode=mode)
    except CodecError as err:
        assert err.param == "byte_budget"  # refused only when not even one entry fits
        assert encoded_size(spec, codec="topk", density=1e-12, values=values) > budget
        return
    assert len(body) <= budget
    out = decode(body, spec)
    assert out.keys() == spec.keys()


@settings(max_examples=60, deadline=None)
@given(_specs, st.floats(1e-4, 1.0), st.sampled_from(["f32", "int8", "sign"]), st.integers(0, 2**16))
def test_topk_size_bound_holds_for_any_density(spec, density, values, seed):
    bound = encoded_size(spec, codec="topk", density=density, values=values)
    body = encode(_update(spec, seed), codec="topk", density=density, values=values)
    assert len(body) <= bound


@settings(max_examples=60, deadline=None)
@given(_specs, st.integers(0, 300), st.integers(0, 2**16), st.floats(1e-30, 1e30))
def test_dense_sizes_are_exact_and_int8_error_is_bounded(spec, block, seed, scale):
    upd = {n: t * scale for n, t in _update(spec, seed).items()}
    assume(all(bool(torch.isfinite(t).all()) for t in upd.values()))
    none = encode(upd, codec="none")
    q = encode(upd, codec="int8", block=block)
    assert len(none) == encoded_size(spec, codec="none")
    assert len(q) == encoded_size(spec, codec="int8", block=block)
    back = decode(q, spec)
    for n, t in upd.items():
        if t.numel():
            bound = float(t.abs().max()) / 127 / 2  # the largest scale's half step bounds every block
            err = float((back[n] - t).abs().max())
            assert err <= bound * (1 + 1e-5)
