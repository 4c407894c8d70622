"""Dataset location and the Dirichlet partition."""

from __future__ import annotations

import numpy as np
import pytest

from flcore import data


def _labels(n_per_class: int = 200, classes: int = 10) -> np.ndarray:
    return np.repeat(np.arange(classes), n_per_class)


def test_partition_covers_every_sample_once():
    labels = _labels()
    parts = data.dirichlet_partition(labels, 8, 0.5, seed=3)
    joined = np.concatenate(parts)
    assert len(joined) == len(labels)
    assert len(np.unique(joined)) == len(labels)


def test_partition_is_deterministic_for_a_seed():
    labels = _labels()
    a = data.dirichlet_partition(labels, 5, 0.5, seed=7)
    b = data.dirichlet_partition(labels, 5, 0.5, seed=7)
    c = data.dirichlet_partition(labels, 5, 0.5, seed=8)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))


def _class_entropy(labels: np.ndarray, part: np.ndarray) -> float:
    counts = np.bincount(labels[part], minlength=10).astype(float)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def test_small_alpha_is_less_iid_than_large_alpha():
    labels = _labels(600)
    skewed = data.dirichlet_partition(labels, 10, 0.1, seed=1)
    even = data.dirichlet_partition(labels, 10, 100.0, seed=1)
    h_skewed = np.mean([_class_entropy(labels, p) for p in skewed])
    h_even = np.mean([_class_entropy(labels, p) for p in even])
    assert h_even > np.log(10) * 0.95
    assert h_skewed < h_even * 0.7


def test_partition_min_size_and_bad_arguments():
    labels = _labels()
    parts = data.dirichlet_partition(labels, 20, 0.3, seed=0, min_size=15)
    assert min(len(p) for p in parts) >= 15
    with pytest.raises(ValueError, match="alpha"):
        data.dirichlet_partition(labels, 4, 0.0, seed=0)
    with pytest.raises(ValueError, match="num_parts"):
        data.dirichlet_partition(labels, 0, 1.0, seed=0)


def test_missing_dataset_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("FL5G_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "nothing")
    with pytest.raises(data.DatasetUnavailableError, match="apt-get install dataset-fashion-mnist"):
        data.locate_fashion_mnist(download=False)


def test_debian_copy_loads_and_matches_its_digests():
    d = data.locate_fashion_mnist(download=False)
    assert all(data._digest_ok(d / f, h) for f, h in data.FILES.items())
    test = data.load_fashion_mnist("test", download=False)
    assert len(test) == 10_000
    assert test.images.shape == (10_000, 28, 28)
    assert np.bincount(test.labels).tolist() == [1000] * 10
    x, y = test.tensors(np.arange(64))
    assert x.shape == (64, 1, 28, 28)
    assert abs(float(x.mean())) < 0.5  # normalised with the training-set statistics
