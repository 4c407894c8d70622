"""The update codecs: round trips, error feedback, budgets, and refusals that leave the sum untouched."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pytest
import safetensors.numpy as stn
import safetensors.torch as stt
import torch

from flcore import codecs
from flcore.codecs import CodecError, EncoderState, decode, decode_into, encode, encoded_size
from flcore.models import TensorSpec, build_model, float_state, model_spec

SYNTH = {
    "a": TensorSpec((3, 4), torch.float32),
    "b": TensorSpec((7,), torch.float32),
    "c.weight": TensorSpec((2, 3, 5), torch.float32),
    "empty": TensorSpec((0,), torch.float32),
    "scalar": TensorSpec((), torch.float32),
}
SMALLCNN = model_spec(float_state(build_model("smallcnn", seed=0)))
# One tensor larger than a chunk, so that chunk seams (and block seams inside chunks) are crossed.
BIG = {"w": TensorSpec((3, 1_000_003), torch.float32), "v": TensorSpec((5,), torch.float32)}
CASES: list[tuple[str, dict[str, Any]]] = [
    ("none", {}),
    ("int8", {}),
    ("int8", {"block": 1000}),
    ("topk", {"density": 0.05}),
    ("topk", {"density": 0.05, "values": "int8"}),
    ("topk", {"density": 0.05, "values": "sign"}),
    ("topk", {"density": 0.05, "mode": "tensor"}),
]


Edit = Callable[[dict[str, Any], dict[str, str]], object]


def rand_update(spec: Mapping[str, TensorSpec], seed: int = 0, scale: float = 0.01
                ) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {n: torch.randn(ts.shape, generator=g) * scale for n, ts in spec.items()}


def rand_acc(spec: Mapping[str, TensorSpec], seed: int = 99) -> dict[str, torch.Tensor]:
    return rand_update(spec, seed, scale=1.0)


def clone(d: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in d.items()}


def same(x: Mapping[str, torch.Tensor], y: Mapping[str, torch.Tensor]) -> bool:
    return x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)


def rebuild(body: bytes, edit: Edit) -> bytes:
    """Load a body with the safetensors library, let ``edit(arrays, meta)`` change it, save it again."""
    n = int.from_bytes(body[:8], "little")
    meta = json.loads(body[8 : 8 + n])["__metadata__"]
    arrays = dict(stn.load(body))
    edit(arrays, meta)
    return stn.save(arrays, metadata=meta)


# -- round trips ---------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", [SYNTH, SMALLCNN], ids=["synthetic", "smallcnn"])
def test_none_round_trip_is_exact(spec):
    upd = rand_update(spec)
    back = decode(encode(upd, codec="none"), spec)
    assert same(back, upd)


@pytest.mark.parametrize("block", [0, 1, 64, 1000])
@pytest.mark.parametrize("spec", [SYNTH, SMALLCNN, BIG], ids=["synthetic", "smallcnn", "big"])
def test_int8_error_is_within_half_a_scale(spec, block):
    upd = rand_update(spec, seed=block)
    upd[next(iter(spec))].view(-1)[:1] = 0.5  # an outlier, so scales differ a lot between blocks
    body = encode(upd, codec="int8", block=block)
    back = decode(body, spec)
    arrays = stn.load(body)
    for name, x in upd.items():
        q = arrays[name].reshape(-1)
        assert q.size == 0 or (q.min() >= -127 and q.max() <= 127)
        s = torch.from_numpy(arrays[name + ":scale"]).double()
        n = x.numel()
        per_elem = s.repeat_interleave(block)[:n] if block else s.expand(n)
        err = (back[name].double() - x.double()).reshape(-1).abs()
        assert bool((err <= per_elem / 2 * (1 + 1e-5) + 1e-12).all()), name


def test_int8_all_zero_blocks_decode_to_zero():
    upd = {"z": torch.zeros(300), "x": torch.zeros(5)}
    upd["x"][2] = -1.0
    back = decode(encode(upd, codec="int8", block=100), model_spec(upd))
    assert torch.equal(back["z"], upd["z"]) and torch.equal(back["x"], upd["x"])


@pytest.mark.parametrize("mode", ["global", "tensor"])
def test_topk_sends_the_largest_magnitudes(mode):
    upd = rand_update(SMALLCNN, seed=3)
    body = encode(upd, codec="topk", density=0.01, mode=mode)
    back = decode(body, SMALLCNN)
    for name in SMALLCNN:
        sent = back[name] != 0
        assert torch.equal(back[name][sent], upd[name][sent])  # values travel exactly
    total = sum(t.numel() for t in upd.values())
    k = math.ceil(0.01 * total)
    if mode == "global":
        flat = torch.cat([upd[n].reshape(-1) for n in sorted(upd)])
        want = torch.zeros(total, dtype=torch.bool)
        want[torch.topk(flat.abs(), k).indices] = True
        got = torch.cat([back[n].reshape(-1) != 0 for n in sorted(upd)])
        assert torch.equal(got, want)
    else:
        assert sum(int((back[n] != 0).sum()) for n in SMALLCNN) == k
        for name in SMALLCNN:
            kt = int((back[name] != 0).sum())
            if kt:
                top = torch.topk(upd[name].reshape(-1).abs(), kt).indices
                assert bool((back[name].reshape(-1)[top] != 0).all()), name


@pytest.mark.parametrize("values", ["f32", "int8", "sign"])
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_topk_error_feedback_keeps_every_bit_of_the_update(values, momentum):
    # Prepare
    state = EncoderState()
    u_prev = {n: torch.zeros(ts.shape) for n, ts in SMALLCNN.items()}
    for rnd in range(4):
        delta = rand_update(SMALLCNN, seed=rnd)
        res_before = clone(state.residual) or {n: torch.zeros(ts.shape) for n, ts in SMALLCNN.items()}
        u_now = {n: u_prev[n] * momentum + delta[n] for n in SMALLCNN} if momentum else delta
        # Execute
        body = encode(delta, codec="topk", density=0.001, state=state, values=values, momentum=momentum)
        sent = decode(body, SMALLCNN)
        # Assert: sent + new residual == old residual + momentum-corrected update
        for n in SMALLCNN:
            accumulated = res_before[n] + u_now[n]
            if values == "f32":
                assert torch.equal(sent[n] + state.residual[n], accumulated), n
            else:
                torch.testing.assert_close(sent[n] + state.residual[n], accumulated, rtol=0, atol=1e-7)
            if momentum:  # momentum factor masking: the velocity restarts where values were sent
                mask = sent[n] != 0
                assert bool((state.momentum[n][mask] == 0).all())
                assert torch.equal(state.momentum[n][~mask], u_now[n][~mask])
        u_prev = clone(state.momentum) if momentum else u_prev
        assert state.round == rnd + 1


def test_topk_density_warms_up_to_its_target():
    state = EncoderState()
    total = sum(ts.numel for ts in SMALLCNN.values())
    seen = []
    for rnd in range(6):
        body = encode(rand_update(SMALLCNN, seed=rnd), codec="topk", density=0.001, state=state)
        seen.append(codecs.validate(body, SMALLCNN).nnz)
    want = [math.ceil(d * total) for d in (0.25, 0.0625, 0.015625, 0.00390625, 0.001, 0.001)]
    assert seen == want
    assert codecs.warmup_density(2, 0.001) == 0.015625


@pytest.mark.parametrize("picks", [
    [0],
    [0, 1, 2, 3],
    [3_000_013],  # the last element of the model
    [5, 6, 2_999_999, 3_000_000, 3_000_013],  # a gap far beyond the Rice parameter
    list(range(0, 3_000_014, 1_000)),
], ids=["first", "run", "last", "far", "even"])
@pytest.mark.parametrize("values", ["f32", "sign"])
def test_topk_indices_round_trip_exactly(picks, values):
    """Rice coding is lossless for any strictly increasing index set; f32 values come back bit for bit,
    sign values as the sign times the mean magnitude."""
    flat = torch.zeros(3_000_014)
    vals = torch.linspace(-1.0, 1.0, len(picks) + 2)[1:-1] + 1e-3  # nonzero, both signs
    flat[picks] = vals
    upd = {"v": flat[:5].clone(), "w": flat[5:].reshape(3, 1_000_003).clone()}  # sorted names: v, w
    body = encode(upd, codec="topk", density=1.0, values=values, block=0)
    back = decode(body, BIG)
    got = torch.cat([back["v"], back["w"].reshape(-1)])
    assert torch.equal(torch.nonzero(got).view(-1), torch.tensor(picks))
    if values == "f32":
        assert torch.equal(got[picks], vals)
    else:
        assert torch.equal(got[picks].sign(), vals.sign())
        torch.testing.assert_close(got[picks].abs(), vals.abs().mean().expand(len(picks)))


@pytest.mark.parametrize("keep", [True, False], ids=["indices-kept", "indices-decoded-twice"])
def test_topk_crosses_chunk_seams(keep, monkeypatch):
    if not keep:  # the path of updates too large to keep their indices between the two passes
        monkeypatch.setattr(codecs.topk, "KEEP_INDICES", 0)
    upd = rand_update(BIG, seed=5)
    body = encode(upd, codec="topk", density=0.5, values="int8", block=333)
    info = codecs.validate(body, BIG)
    assert info.nnz > codecs.CHUNK
    back = decode(body, BIG)
    sent = back["w"] != 0
    half_scale = float(upd["w"].abs().max()) / 127 / 2
    torch.testing.assert_close(back["w"][sent], upd["w"][sent], rtol=0, atol=half_scale * 1.001)
    acc = rand_acc(BIG)
    ref = clone(acc)
    decode_into(body, BIG, acc, 0.25)
    for n in BIG:
        torch.testing.assert_close(acc[n], ref[n].add_(back[n], alpha=0.25), rtol=3e-7, atol=1e-7)


# -- decode_into ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("codec", "opts"), CASES)
@pytest.mark.parametrize("spec", [SYNTH, SMALLCNN, BIG], ids=["synthetic", "smallcnn", "big"])
def test_decode_into_adds_weight_times_decode(spec, codec, opts):
    body = encode(rand_update(spec, seed=7), codec=codec, **opts)
    acc = rand_acc(spec)
    ref = clone(acc)
    info = decode_into(body, spec, acc, 0.37)
    dense = decode(body, spec)
    for n in spec:  # equal up to fp32 rounding: scattered and dense adds may round apart by one ulp
        torch.testing.assert_close(acc[n], ref[n].add_(dense[n], alpha=0.37), rtol=3e-7, atol=1e-7)
    assert info.codec == codec and info.nbytes == len(body)
    assert info.numel == sum(ts.numel for ts in spec.values())
    norm = math.sqrt(sum(float(t.double().pow(2).sum()) for t in dense.values()))
    assert info.l2_norm == pytest.approx(norm, rel=1e-7)
    if codec == "topk":
        assert info.nnz == sum(int((t != 0).sum()) for t in dense.values())


def test_decode_accepts_memoryview_and_bytearray():
    body = encode(rand_update(SYNTH), codec="int8")
    want = decode(body, SYNTH)
    assert same(decode(memoryview(body), SYNTH), want)
    assert same(decode(bytearray(body), SYNTH), want)
    buf = np.frombuffer(body, np.uint8).copy()  # a preallocated receive buffer
    assert same(decode(buf.data, SYNTH), want)


def _drop(name: str) -> Edit:
    return lambda a, m: a.pop(name)


def _add_extra(a, m):
    a["intruder"] = np.zeros(3, np.float32)


def _reshape(a, m):
    a["b"] = a["b"].reshape(1, 7)


def _retype(a, m):
    a["b"] = a["b"].astype(np.float16)


def _nan(a, m):
    a["a"] = a["a"].copy()
    a["a"][1, 1] = np.nan


def _inf_scale(a, m):
    a["a:scale"] = np.array([np.inf], np.float32)


def _negative_scale(a, m):
    a["a:scale"] = -a["a:scale"]


def _codec(value: str) -> Edit:
    return lambda a, m: m.__setitem__("codec", value)


def _version(a, m):
    m["codec_version"] = str(codecs.CODEC_VERSIONS[m["codec"]] + 1)


def _block(a, m):
    m["block"] = "-1"


REFUSALS = [
    ("none", _drop("a"), "a"),
    ("none", _add_extra, "intruder"),
    ("none", _reshape, "b"),
    ("none", _retype, "b"),
    ("none", _nan, "a"),
    ("none", _codec("gzip"), "__metadata__.codec"),
    ("none", _version, "__metadata__.codec_version"),
    ("int8", _drop("a:scale"), "a:scale"),
    ("int8", _inf_scale, "a:scale"),
    ("int8", _negative_scale, "a:scale"),
    ("int8", _block, "__metadata__.block"),
    ("int8", _codec("none"), "a"),
]


@pytest.mark.parametrize(("codec", "edit", "param"), REFUSALS)
def test_refused_update_names_the_field_and_leaves_acc_untouched(codec, edit, param):
    body = rebuild(encode(rand_update(SYNTH), codec=codec), edit)
    acc = rand_acc(SYNTH)
    ref = clone(acc)
    with pytest.raises(CodecError) as err:
        decode_into(body, SYNTH, acc, 1.0)
    assert err.value.param == param
    assert same(acc, ref)


def _q_bits(a) -> np.ndarray:
    return np.unpackbits(a["topk.idx_q"])


def _extra_one(a, m):
    """A one where a zero was: the stream then holds more quotients than there are entries."""
    bits = _q_bits(a)
    bits[np.flatnonzero(bits == 0)[0]] = 1
    a["topk.idx_q"] = np.packbits(bits)


def _q_short(a, m):
    a["topk.idx_q"] = a["topk.idx_q"][:-1]


def _push_last_out(a, m):
    """The largest quotient the header allows, on the last index: past the end of the model."""
    bits = _q_bits(a)
    last = int(np.flatnonzero(bits)[-1])
    pad = np.zeros(int(m["numel"]) >> int(m["rice"]), np.uint8)
    a["topk.idx_q"] = np.packbits(np.concatenate([bits[:last], pad, [1]]).astype(np.uint8))


def _q_2d(a, m):
    a["topk.idx_q"] = a["topk.idx_q"].reshape(1, -1)


def _rice(a, m):
    m["rice"] = "41"


def _k(a, m):
    m["k"] = str(int(m["k"]) + 1)


def _numel(a, m):
    m["numel"] = str(int(m["numel"]) + 1)


def _spec_digest(a, m):
    m["spec"] = "0" * 16


def _val_nan(a, m):
    a["topk.val"] = a["topk.val"].copy()
    a["topk.val"][-1] = np.nan


def _val_short(a, m):
    a["topk.val"] = a["topk.val"][:-1]


TOPK_REFUSALS = [
    (_extra_one, "topk.idx_q"),
    (_q_short, "topk.idx_q"),
    (_q_2d, "topk.idx_q"),
    (_push_last_out, "topk.idx_q"),
    (_rice, "__metadata__.rice"),
    (_k, "topk.val"),
    (_numel, "__metadata__.numel"),
    (_spec_digest, "__metadata__.spec"),
    (_val_nan, "topk.val"),
    (_val_short, "topk.val"),
    (_drop("topk.idx_r"), "topk.idx_r"),
]


def _scale_negative(a, m):
    a["topk.val:scale"] = -a["topk.val:scale"]


def _sign_short(a, m):
    a["topk.val"] = a["topk.val"][:-1]


@pytest.mark.parametrize(("edit", "param", "values"), [
    *((e, p, "f32") for e, p in TOPK_REFUSALS),
    (_extra_one, "topk.idx_q", "sign"),
    (_scale_negative, "topk.val:scale", "sign"),
    (_sign_short, "topk.val", "sign"),
    (_scale_negative, "topk.val:scale", "int8"),
])
def test_refused_topk_update_leaves_acc_untouched(edit, param, values):
    body = rebuild(encode(rand_update(SMALLCNN), codec="topk", density=0.01, values=values), edit)
    acc = rand_acc(SMALLCNN)
    ref = clone(acc)
    with pytest.raises(CodecError) as err:
        decode_into(body, SMALLCNN, acc, 1.0)
    assert err.value.param == param
    assert same(acc, ref)


@pytest.mark.parametrize(("codec", "opts"), CASES)
def test_norm_bound_refuses_before_adding(codec, opts):
    upd = rand_update(SMALLCNN)
    body = encode(upd, codec=codec, **opts)
    norm = codecs.validate(body, SMALLCNN).l2_norm
    acc = rand_acc(SMALLCNN)
    ref = clone(acc)
    with pytest.raises(CodecError) as err:
        decode_into(body, SMALLCNN, acc, 1.0, max_norm=norm * 0.99)
    assert err.value.param == "norm"
    assert same(acc, ref)
    assert decode_into(body, SMALLCNN, acc, 1.0, max_norm=norm * 1.01).l2_norm == norm


def test_update_for_another_model_is_refused():
    body = encode(rand_update(SYNTH), codec="none")
    with pytest.raises(CodecError):
        decode(body, SMALLCNN)


def test_caller_mistakes_are_not_codec_errors():
    body = encode(rand_update(SYNTH), codec="none")
    bad_acc = rand_acc(SYNTH)
    bad_acc["a"] = torch.zeros(3, 4, dtype=torch.float64)
    with pytest.raises(ValueError) as err:
        decode_into(body, SYNTH, bad_acc, 1.0)
    assert not isinstance(err.value, CodecError)
    with pytest.raises(TypeError):
        encode(rand_update(SYNTH), codec="int8", blok=3)
    with pytest.raises(ValueError):
        encode(rand_update(SYNTH), codec="zstd")


# -- encoder side --------------------------------------------------------------------------------


def test_non_finite_update_is_refused_by_name():
    upd = rand_update(SYNTH)
    upd["c.weight"][0, 1, 2] = math.inf
    for codec, opts in CASES:
        with pytest.raises(CodecError) as err:
            encode(upd, codec=codec, **opts)
        assert err.value.param == "c.weight"


@pytest.mark.parametrize(("codec", "opts"), CASES[:3])
def test_dense_codecs_refuse_an_update_over_budget(codec, opts):
    size = encoded_size(SMALLCNN, codec=codec, **opts)
    upd = rand_update(SMALLCNN)
    assert len(encode(upd, codec=codec, byte_budget=size, **opts)) == size
    with pytest.raises(CodecError) as err:
        encode(upd, codec=codec, byte_budget=size - 1, **opts)
    assert err.value.param == "byte_budget"


@pytest.mark.parametrize("values", ["f32", "int8", "sign"])
def test_topk_fills_but_never_exceeds_its_budget(values):
    """The size bound is worst-case (indices spread as evenly as possible, the header's numbers at their
    widest), so a budget is filled to within the slack of that bound: a few percent."""
    upd = rand_update(SMALLCNN)
    everything = len(encode(upd, codec="topk", density=1.0, values=values))
    for budget in (600, 5_000, 50_000, 400_000):
        body = encode(upd, codec="topk", byte_budget=budget, values=values)
        assert 0.92 * min(budget, everything) <= len(body) <= budget
    with pytest.raises(CodecError) as err:
        encode(upd, codec="topk", byte_budget=200)
    assert err.value.param == "byte_budget"


def test_topk_refusal_leaves_the_encoder_state_untouched():
    state = EncoderState()
    encode(rand_update(SMALLCNN, 1), codec="topk", density=0.01, state=state, momentum=0.5)
    before = (clone(state.residual), clone(state.momentum), state.round)
    with pytest.raises(CodecError):
        encode(rand_update(SMALLCNN, 2), codec="topk", byte_budget=100, state=state, momentum=0.5)
    bad = rand_update(SMALLCNN, 3)
    bad["features.0.bias"][0] = math.nan
    with pytest.raises(CodecError):
        encode(bad, codec="topk", density=0.01, state=state, momentum=0.5)
    assert same(state.residual, before[0]) and same(state.momentum, before[1]) and state.round == before[2]


def test_state_for_another_model_is_a_caller_error():
    state = EncoderState()
    encode(rand_update(SYNTH), codec="topk", density=0.1, state=state)
    with pytest.raises(ValueError):
        encode(rand_update(SMALLCNN), codec="topk", density=0.1, state=state)


@pytest.mark.parametrize("density", [0.01, 0.001])
@pytest.mark.parametrize("values", ["f32", "int8", "sign"])
def test_encoded_size_is_a_tight_bound_for_topk(density, values):
    bound = encoded_size(SMALLCNN, codec="topk", density=density, values=values)
    actual = len(encode(rand_update(SMALLCNN), codec="topk", density=density, values=values))
    assert 0.75 * bound <= actual <= bound


@pytest.mark.parametrize(("codec", "opts"), CASES[:3])
def test_encoded_size_is_exact_for_dense_codecs(codec, opts):
    for spec in (SYNTH, SMALLCNN):
        assert encoded_size(spec, codec=codec, **opts) == len(encode(rand_update(spec), codec=codec, **opts))


def test_int8_smallcnn_is_one_byte_per_parameter_plus_header():
    size = encoded_size(SMALLCNN, codec="int8")
    assert 421_642 < size < 421_642 + 2_000


# -- interoperability with the safetensors library -----------------------------------------------


@pytest.mark.parametrize(("codec", "opts"), CASES)
def test_bodies_load_with_the_safetensors_library(codec, opts):
    body = encode(rand_update(SMALLCNN), codec=codec, **opts)
    arrays = stn.load(body)
    assert arrays and codecs.peek_codec(body) == codec


def test_a_none_body_written_by_safetensors_decodes():
    upd = rand_update(SMALLCNN)
    body = stt.save(upd, metadata={"codec": "none", "codec_version": "1"})
    assert same(decode(body, SMALLCNN), upd)


# -- hostile containers --------------------------------------------------------------------------


def _container(header: bytes, data: bytes = b"") -> bytes:
    return len(header).to_bytes(8, "little") + header + data


HOSTILE = [
    (b"\xff" * 8 + b"{}", "body"),  # header length far beyond the body
    (_container(b"[" * 100_000 + b"]" * 100_000), "body"),  # nesting deep enough to blow the parser's stack
    (_container(b'{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, '
                b'"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}', bytes(4)), "body"),
    (_container(json.dumps({f"t{i}": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}
                            for i in range(1000)}).encode()), "body"),
    (_container(json.dumps({"a": {"dtype": "F32", "shape": [1 << 40], "data_offsets": [0, 4 << 40]}})
                .encode()), "a"),
    (_container(json.dumps({"a": {"dtype": "F32", "shape": [3, 4], "data_offsets": [0, 48]}}).encode(),
                bytes(40)), "a"),
    (_container(b'{"__metadata__": {"codec": 5}}'), "__metadata__"),
    (_container(b"\xc3\x28"), "body"),  # not UTF-8
]


@pytest.mark.parametrize(("body", "param"), HOSTILE)
def test_hostile_containers_are_refused_before_any_allocation(body, param):
    acc = rand_acc(SYNTH)
    ref = clone(acc)
    with pytest.raises(CodecError) as err:
        decode_into(body, SYNTH, acc, 1.0)
    assert err.value.param == param
    assert same(acc, ref)


@pytest.mark.parametrize(("codec", "opts"), CASES)
def test_half_precision_and_strided_updates_encode_as_fp32(codec, opts):
    spec = {"t": TensorSpec((4, 6), torch.float32), "h": TensorSpec((10,), torch.float32)}
    upd = {"t": torch.randn(6, 4).t(), "h": torch.randn(10).half()}  # a transposed view, an fp16 tensor
    back = decode(encode(upd, codec=codec, **opts), spec)
    if codec == "none":
        assert torch.equal(back["t"], upd["t"]) and torch.equal(back["h"], upd["h"].float())
    elif codec == "int8":
        half_step = float(upd["t"].abs().max()) / 127 / 2
        torch.testing.assert_close(back["t"], upd["t"], rtol=0, atol=half_step * 1.001)
    elif opts.get("values") == "sign":  # the signs, and one magnitude: the mean of those sent
        sent = torch.cat([back["h"], back["t"].reshape(-1)]) != 0
        orig = torch.cat([upd["h"].float(), upd["t"].reshape(-1)])[sent]
        got = torch.cat([back["h"], back["t"].reshape(-1)])[sent]
        assert torch.equal(got.sign(), orig.sign())
        torch.testing.assert_close(got.abs(), orig.abs().mean().expand_as(got))
    else:
        sent = back["t"] != 0
        torch.testing.assert_close(back["t"][sent], upd["t"][sent], rtol=0.02, atol=0.02)
