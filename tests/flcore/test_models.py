"""The model registry."""

from __future__ import annotations

import pytest
import torch

from flcore import models


@pytest.mark.parametrize(("name", "params"), [("smallcnn", 421_642), ("vgg16_bn", 138_365_992)])
def test_parameter_counts(name, params):
    assert models.model_info(name).num_params == params
    if name == "smallcnn":  # vgg16_bn is 553 MB in fp32: build it only where a test needs it
        assert models.count_params(models.build_model(name)) == params


def test_smallcnn_forward_shape_and_seeded_init():
    a = models.build_model("smallcnn", seed=1)
    b = models.build_model("smallcnn", seed=1)
    c = models.build_model("smallcnn", seed=2)
    x = torch.zeros(3, 1, 28, 28)
    assert a(x).shape == (3, 10)
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())
    assert not torch.equal(a.state_dict()["features.0.weight"], c.state_dict()["features.0.weight"])


def test_unknown_model_names_the_known_ones():
    with pytest.raises(models.UnknownModelError, match="smallcnn"):
        models.model_info("resnet9000")
