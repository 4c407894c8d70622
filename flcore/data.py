"""Fashion-MNIST from local files (or the upstream release) and seeded non-IID partitions."""

from __future__ import annotations

import gzip
import hashlib
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from flcore.models import MEAN, STD

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
UPSTREAM = "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/"
# SHA-256 of the *decompressed* IDX data: Debian re-compresses the upstream files, so the .gz
# digests differ between copies while the images and labels are the same bytes.
FILES = {
    "train-images-idx3-ubyte.gz": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte.gz": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte.gz": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte.gz": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


class DatasetUnavailableError(RuntimeError):
    """No copy of the dataset could be found or fetched."""


@dataclass(frozen=True)
class ImageSet:
    """Images as uint8 (N, 28, 28) and labels as int64 (N,), kept compact until a batch is drawn."""

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, idx: np.ndarray) -> ImageSet:
        return ImageSet(self.images[idx], self.labels[idx])

    def tensors(self, idx: np.ndarray | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised float images (N, 1, 28, 28) and labels for ``idx`` (all when None)."""
        imgs = self.images if idx is None else self.images[idx]
        labels = self.labels if idx is None else self.labels[idx]
        x = torch.from_numpy(imgs.astype(np.float32)).div_(255.0)  # a fresh, writable copy
        x = x.sub_(MEAN).div_(STD).unsqueeze_(1)
        return x, torch.from_numpy(labels.astype(np.int64))


def _search_dirs() -> list[Path]:
    dirs = []
    if env := os.environ.get("FL5G_DATA_DIR"):
        dirs.append(Path(env))
    dirs.append(DEBIAN_DIR)
    return dirs


def _have_all(d: Path) -> bool:
    return all((d / f).is_file() for f in FILES)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with gzip.open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _digest_ok(path: Path, digest: str) -> bool:
    try:
        return _sha256(path) == digest
    except (OSError, EOFError, gzip.BadGzipFile):
        return False


def _download(dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for name, digest in FILES.items():
        target = dest / name
        if target.is_file() and _digest_ok(target, digest):
            continue
        tmp = target.with_suffix(".part")
        urllib.request.urlretrieve(UPSTREAM + name, tmp)  # noqa: S310 (fixed https URL)
        if not _digest_ok(tmp, digest):
            tmp.unlink(missing_ok=True)
            raise DatasetUnavailableError(f"{name}: SHA-256 mismatch after download")
        tmp.replace(target)


def locate_fashion_mnist(download: bool = True) -> Path:
    """The first directory holding the four IDX files: FL5G_DATA_DIR, Debian's path, then a download."""
    for d in _search_dirs():
        if _have_all(d):
            return d
    if download:
        dest = Path(os.environ.get("FL5G_DATA_DIR") or Path.home() / ".cache" / "fl5g" / "fashion-mnist")
        try:
            _download(dest)
            return dest
        except (OSError, DatasetUnavailableError) as exc:
            reason = f"download failed ({exc})"
    else:
        reason = "download disabled"
    raise DatasetUnavailableError(
        "Fashion-MNIST not found in FL5G_DATA_DIR or /usr/share/datasets/fashion-mnist, and "
        f"{reason}. Install it with `sudo apt-get install dataset-fashion-mnist`, or put the four "
        "*-ubyte.gz files in a directory and set FL5G_DATA_DIR to it."
    )


def _read_idx(path: Path, offset: int) -> np.ndarray:
    with gzip.open(path, "rb") as fh:
        return np.frombuffer(fh.read(), dtype=np.uint8, offset=offset)


def load_fashion_mnist(split: str = "train", *, download: bool = True) -> ImageSet:
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    d = locate_fashion_mnist(download)
    prefix = "train" if split == "train" else "t10k"
    images = _read_idx(d / f"{prefix}-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28)
    labels = _read_idx(d / f"{prefix}-labels-idx1-ubyte.gz", 8).astype(np.int64)
    if images.shape[0] != labels.shape[0]:
        raise DatasetUnavailableError(f"{d}: {images.shape[0]} images but {labels.shape[0]} labels")
    return ImageSet(images, labels)


def stratified_subset(data: ImageSet, n: int, seed: int = 0) -> ImageSet:
    """``n`` samples with every class equally present (as far as ``n`` allows), the same for a seed."""
    if n >= len(data):
        return data
    rng = np.random.default_rng(seed)
    classes = np.unique(data.labels)
    per = n // len(classes)
    idx = np.concatenate([rng.choice(np.flatnonzero(data.labels == c), per, replace=False) for c in classes])
    return data.subset(np.sort(idx))


def dirichlet_partition(
    labels: np.ndarray, num_parts: int, alpha: float, seed: int, *, min_size: int = 10
) -> list[np.ndarray]:
    """Split sample indices over ``num_parts`` UEs with class shares drawn from Dirichlet(alpha).

    Small alpha gives each UE few classes (non-IID); large alpha approaches IID. Redraws (with the
    same generator, so still deterministic) until every part has at least ``min_size`` samples.
    """
    if num_parts < 1:
        raise ValueError("num_parts must be >= 1")
    if alpha <= 0:
        raise ValueError("alpha must be > 0")
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    min_size = min(min_size, len(labels) // num_parts)
    for _ in range(100):
        parts: list[list[np.ndarray]] = [[] for _ in range(num_parts)]
        for c in classes:
            idx = np.flatnonzero(labels == c)
            rng.shuffle(idx)
            shares = rng.dirichlet(np.full(num_parts, alpha))
            cuts = (np.cumsum(shares)[:-1] * len(idx)).astype(int)
            for p, chunk in enumerate(np.split(idx, cuts)):
                parts[p].append(chunk)
        out = [np.sort(np.concatenate(p)) for p in parts]
        if min(len(p) for p in out) >= min_size:
            return out
    raise ValueError(f"could not give every one of {num_parts} parts {min_size} samples with alpha={alpha}")
