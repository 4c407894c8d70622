"""The model registry: hand-written torch models by name, and their tensor specs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import nn

MEAN, STD = 0.2860, 0.3530  # Fashion-MNIST training-set statistics


class SmallCNN(nn.Module):
    """Two conv blocks and two linear layers for 28x28 grey images: 421,642 parameters."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))  # type: ignore[no-any-return]


_VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


class VGG16BN(nn.Module):
    """VGG16 with batch norm (configuration D), written out by hand: 138,365,992 parameters."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for v in _VGG16:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                assert isinstance(v, int)
                layers += [nn.Conv2d(channels, v, 3, padding=1), nn.BatchNorm2d(v), nn.ReLU(inplace=True)]
                channels = v
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096),
            nn.ReLU(True),
            nn.Dropout(),
            nn.Linear(4096, 4096),
            nn.ReLU(True),
            nn.Dropout(),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))  # type: ignore[no-any-return]


@dataclass(frozen=True)
class ModelInfo:
    name: str
    build: Callable[[], nn.Module]
    input_shape: tuple[int, ...]
    num_params: int


REGISTRY: dict[str, ModelInfo] = {
    "smallcnn": ModelInfo("smallcnn", SmallCNN, (1, 28, 28), 421_642),
    "vgg16_bn": ModelInfo("vgg16_bn", VGG16BN, (3, 224, 224), 138_365_992),
}


class UnknownModelError(KeyError):
    """A model name that the registry does not hold."""


def model_info(name: str) -> ModelInfo:
    try:
        return REGISTRY[name]
    except KeyError:
        raise UnknownModelError(f"unknown model {name!r}; known: {', '.join(sorted(REGISTRY))}") from None


def build_model(name: str, *, seed: int | None = None) -> nn.Module:
    """A fresh model; with ``seed`` its initial weights are the same on every machine."""
    info = model_info(name)
    if seed is None:
        return info.build()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return info.build()


@dataclass(frozen=True)
class TensorSpec:
    shape: tuple[int, ...]
    dtype: torch.dtype

    @property
    def numel(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


ModelSpec = Mapping[str, TensorSpec]
"""Names, shapes and dtypes of every tensor in a model's state (parameters and buffers)."""


def model_spec(state: Mapping[str, torch.Tensor]) -> dict[str, TensorSpec]:
    return {k: TensorSpec(tuple(v.shape), v.dtype) for k, v in state.items()}


def float_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The model's state that FedAvg averages: every floating tensor (BN counters are not averaged)."""
    return {k: v for k, v in model.state_dict().items() if v.is_floating_point()}


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
