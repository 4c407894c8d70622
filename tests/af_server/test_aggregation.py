"""Aggregation: exact weighted FedAvg as updates arrive, robust options, refusals leave the sum alone."""

from __future__ import annotations

import pytest
import torch

from af_server.aggregation import Aggregator
from flcore.codecs import CodecError, encode
from flcore.models import TensorSpec

SPEC = {"w": TensorSpec((3, 4), torch.float32), "b": TensorSpec((4,), torch.float32)}


def _update(value: float) -> dict[str, torch.Tensor]:
    return {"w": torch.full((3, 4), value), "b": torch.arange(4, dtype=torch.float32) * value}


def test_weighted_fedavg_is_exact():
    agg = Aggregator(SPEC)
    updates = [(_update(1.0), 10.0), (_update(-2.0), 30.0), (_update(0.5), 60.0)]
    for u, w in updates:
        agg.add(encode(u, codec="none"), w)
    mean = agg.result()
    assert mean is not None
    total = sum(w for _, w in updates)
    for name in SPEC:
        expected = sum(u[name] * w for u, w in updates) / total
        assert torch.allclose(mean[name], expected, atol=1e-7), name
    assert agg.count == 3 and agg.total_weight == total


def test_order_of_arrival_does_not_matter():
    a, b = Aggregator(SPEC), Aggregator(SPEC)
    ups = [(_update(v), w) for v, w in [(1.0, 1.0), (2.0, 2.0), (3.0, 3.0)]]
    for u, w in ups:
        a.add(encode(u, codec="none"), w)
    for u, w in reversed(ups):
        b.add(encode(u, codec="none"), w)
    ra, rb = a.result(), b.result()
    assert ra is not None and rb is not None
    assert all(torch.allclose(ra[k], rb[k]) for k in SPEC)


def test_refused_update_leaves_the_sum_untouched():
    agg = Aggregator(SPEC)
    agg.add(encode(_update(1.0), codec="none"), 1.0)
    bad = _update(1.0)
    bad["w"][0, 0] = float("inf")
    with pytest.raises(CodecError):
        agg.add(_raw(bad), 1.0)
    with pytest.raises(CodecError):
        agg.add(b"garbage", 1.0)
    with pytest.raises(CodecError):
        agg.add(encode(_update(1.0), codec="none"), 0.0)
    mean = agg.result()
    assert mean is not None and agg.count == 1
    assert torch.equal(mean["w"], torch.full((3, 4), 1.0))


def _raw(update: dict[str, torch.Tensor]) -> bytes:
    from flcore.wire import state_to_bytes

    return state_to_bytes(update, {"codec": "none", "codec_version": "1"})


def test_nothing_arrived_gives_no_result():
    assert Aggregator(SPEC).result() is None


def test_norm_bound_refuses_large_updates_with_fedavg():
    agg = Aggregator(SPEC, max_norm=1.0)
    with pytest.raises(CodecError):
        agg.add(encode(_update(10.0), codec="none"), 1.0)
    agg.add(encode(_update(0.01), codec="none"), 1.0)
    assert agg.count == 1


@pytest.mark.parametrize("method", ["median", "trimmed_mean"])
def test_robust_methods_resist_one_scaled_attacker(method):
    agg = Aggregator(SPEC, method=method, trim_ratio=0.2)
    for v in (1.0, 1.1, 0.9, 1.05, 0.95):
        agg.add(encode(_update(v), codec="none"), 1.0)
    agg.add(encode(_update(-1000.0), codec="none"), 1.0)  # a sign-flipped, scaled update
    mean = agg.result()
    assert mean is not None
    assert 0.8 < float(mean["w"].mean()) < 1.2
    plain = Aggregator(SPEC)
    for v in (1.0, 1.1, 0.9, 1.05, 0.95, -1000.0):
        plain.add(encode(_update(v), codec="none"), 1.0)
    assert float(plain.result()["w"].mean()) < -100  # type: ignore[index]


def test_clipped_fedavg_bounds_each_contribution():
    agg = Aggregator(SPEC, method="clipped_fedavg", max_norm=1.0)
    agg.add(encode(_update(1000.0), codec="none"), 1.0)
    mean = agg.result()
    assert mean is not None
    norm = torch.sqrt(sum((t.double() ** 2).sum() for t in mean.values()))
    assert float(norm) == pytest.approx(1.0, rel=1e-5)
