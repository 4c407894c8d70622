"""The safetensors container, written and read here with strict checks and zero-copy views.

Layout (the safetensors format): an 8-byte little-endian header length ``n``, ``n`` bytes of JSON
(``{"__metadata__": {str: str}, name: {"dtype", "shape", "data_offsets": [begin, end]}}``, padded with
spaces to a multiple of 8), then the data section. Bodies written here load with ``safetensors``, and
bodies that ``safetensors`` writes parse here. The reader is our own rather than ``safetensors.safe_open``
because the AF must bound every size before it allocates anything and then read tensors in place, as
views over the receive buffer: a rejected body costs no allocation, an accepted one no copy.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from flcore.codecs.base import CodecError

MAX_HEADER = 8 << 20
"""A header larger than this is refused before it is parsed (a VGG16_BN header is about 10 KB)."""

_NP: dict[str, np.dtype[Any]] = {
    "F32": np.dtype(np.float32),
    "I8": np.dtype(np.int8),
    "U8": np.dtype(np.uint8),
    "U16": np.dtype(np.uint16),
    "U32": np.dtype(np.uint32),
}
_TORCH: dict[str, torch.dtype] = {"F32": torch.float32, "I8": torch.int8, "U8": torch.uint8}


@dataclass(frozen=True)
class Entry:
    name: str
    dtype: str
    shape: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        n = _NP[self.dtype].itemsize
        for d in self.shape:
            n *= d
        return n


def _header(entries: Sequence[Entry], metadata: Mapping[str, str],
            fixed_offset: int | None = None) -> tuple[bytes, list[int]]:
    """The header; with ``fixed_offset`` every offset is written as that number (for size bounds)."""
    # Widest dtypes first, so that every tensor starts aligned to its item size.
    order = sorted(range(len(entries)), key=lambda i: -_NP[entries[i].dtype].itemsize)
    doc: dict[str, Any] = {"__metadata__": dict(metadata)}
    offsets = [0] * len(entries)
    pos = 0
    for i in order:
        e = entries[i]
        offsets[i] = pos
        span = [pos, pos + e.nbytes] if fixed_offset is None else [fixed_offset, fixed_offset]
        doc[e.name] = {"dtype": e.dtype, "shape": list(e.shape), "data_offsets": span}
        pos += e.nbytes
    raw = json.dumps(doc, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    return len(raw).to_bytes(8, "little") + raw, offsets


def body_size(entries: Sequence[Entry], metadata: Mapping[str, str]) -> int:
    """The exact size of the body ``Writer(entries, metadata)`` produces."""
    head, _ = _header(entries, metadata)
    return len(head) + sum(e.nbytes for e in entries)


def header_bound(entries: Sequence[Entry], metadata: Mapping[str, str], max_data: int) -> int:
    """An upper bound on the header size (length prefix included) of any layout whose data section is at
    most ``max_data`` bytes and whose names, dtype strings, shapes and metadata are no longer than these."""
    head, _ = _header(entries, metadata, fixed_offset=max_data)
    return len(head)


class Writer:
    """Lays out a body from per-tensor sources, joined once at the end: the body is the only body-sized
    allocation (a ``bytearray`` turned into ``bytes`` would take two, and copy twice)."""

    def __init__(self, entries: Sequence[Entry], metadata: Mapping[str, str]) -> None:
        names = [e.name for e in entries]
        if len(set(names)) != len(names) or "__metadata__" in names:
            raise CodecError("duplicate or reserved tensor name in the body layout", param="body")
        self._head, offsets = _header(entries, metadata)
        self._entries = {e.name: e for e in entries}
        self._order = [e.name for _, e in sorted(zip(offsets, entries, strict=True), key=lambda p: p[0])]
        self._parts: dict[str, np.ndarray[Any, Any]] = {}

    def array(self, name: str) -> np.ndarray[Any, Any]:
        """A fresh writable array for the tensor, to fill in place."""
        e = self._entries[name]
        self._parts[name] = np.empty(e.shape, dtype=_NP[e.dtype])
        return self._parts[name]

    def tensor(self, name: str) -> torch.Tensor:
        """``array`` as a flat torch tensor (``F32``/``I8``/``U8`` only)."""
        return torch.from_numpy(self.array(name)).view(-1)

    def put(self, name: str, t: torch.Tensor) -> None:
        """Use ``t`` itself (a CPU tensor of the entry's dtype and size) as the source: no copy until the
        join. It must not change before ``finish``."""
        e = self._entries[name]
        flat = t.detach().reshape(-1)  # a view when contiguous
        if flat.dtype != _TORCH[e.dtype] or flat.numel() * _NP[e.dtype].itemsize != e.nbytes:
            raise ValueError(f"tensor for {name!r} does not match its entry")
        self._parts[name] = flat.numpy()

    def finish(self) -> bytes:
        missing = set(self._entries) - set(self._parts)
        if missing:
            raise ValueError(f"no data for {sorted(missing)}")
        return b"".join([memoryview(self._head), *(self._parts[n].data for n in self._order)])


@dataclass(frozen=True)
class WireTensor:
    dtype: str
    shape: tuple[int, ...]
    start: int  # absolute offset in the body
    numel: int


class Body:
    """A parsed body: metadata, tensor entries, and read-only views into the original buffer."""

    def __init__(self, mv: memoryview, metadata: dict[str, str], tensors: dict[str, WireTensor]) -> None:
        self.mv = mv
        self.metadata = metadata
        self.tensors = tensors

    def meta(self, key: str) -> str:
        v = self.metadata.get(key)
        if v is None:
            raise CodecError(f"body metadata lacks {key!r}", param=f"__metadata__.{key}")
        return v

    def meta_int(self, key: str, lo: int, hi: int) -> int:
        v = self.meta(key)
        if not (v.isascii() and v.isdigit() and len(v) <= 20) or not lo <= int(v) <= hi:
            raise CodecError(f"body metadata {key}={v!r} is not an integer in [{lo}, {hi}]",
                             param=f"__metadata__.{key}")
        return int(v)

    def expect(self, name: str, dtype: str | Sequence[str], shape: tuple[int, ...] | None) -> WireTensor:
        t = self.tensors.get(name)
        if t is None:
            raise CodecError(f"body lacks tensor {name!r}", param=name)
        dtypes = (dtype,) if isinstance(dtype, str) else tuple(dtype)
        if t.dtype not in dtypes:
            raise CodecError(f"tensor {name!r} has dtype {t.dtype}, expected {'/'.join(dtypes)}", param=name)
        if shape is not None and t.shape != shape:
            raise CodecError(f"tensor {name!r} has shape {list(t.shape)}, expected {list(shape)}", param=name)
        return t

    def only(self, names: set[str]) -> None:
        extra = set(self.tensors) - names
        if extra:
            first = sorted(extra)[0]
            raise CodecError(f"body has {len(extra)} unexpected tensor(s), e.g. {first!r}", param=first)

    def np(self, name: str) -> np.ndarray[Any, Any]:
        t = self.tensors[name]
        return np.frombuffer(self.mv, dtype=_NP[t.dtype], count=t.numel, offset=t.start)

    def torch(self, name: str) -> torch.Tensor:
        """A flat read-only torch view (``F32``/``I8``/``U8`` only): never write through it."""
        t = self.tensors[name]
        if t.numel == 0:
            return torch.empty(0, dtype=_TORCH[t.dtype])
        return torch.frombuffer(self.mv, dtype=_TORCH[t.dtype], count=t.numel, offset=t.start)


def _no_dupes(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    d = dict(pairs)
    if len(d) != len(pairs):
        raise ValueError("duplicate key in header")
    return d


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def parse(body: bytes | bytearray | memoryview, max_tensors: int | None = None) -> Body:
    """Parse and check the container; every size is checked against the buffer before any view is made,
    and a header with more than ``max_tensors`` entries is refused before they are checked one by one."""
    try:
        mv = memoryview(body).cast("B")
    except (TypeError, ValueError):
        raise CodecError("body is not a contiguous byte buffer", param="body")
    size = len(mv)
    if size < 8:
        raise CodecError(f"body of {size} bytes is shorter than its 8-byte header length", param="body")
    n = int.from_bytes(mv[:8], "little")
    if n > MAX_HEADER or 8 + n > size:
        raise CodecError(f"header length {n} does not fit a body of {size} bytes", param="body")
    try:
        doc = json.loads(str(mv[8 : 8 + n], "utf-8"), object_pairs_hook=_no_dupes)
    except (ValueError, RecursionError) as e:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise CodecError(f"header is not valid JSON: {str(e)[:200]}", param="body")
    if not isinstance(doc, dict):
        raise CodecError("header is not a JSON object", param="body")
    meta = doc.pop("__metadata__", {})
    if max_tensors is not None and len(doc) > max_tensors:
        raise CodecError(f"header lists {len(doc)} tensors, more than any body for this model", param="body")
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise CodecError("header __metadata__ is not an object of strings", param="__metadata__")
    data0, data_len = 8 + n, size - 8 - n
    spans: list[tuple[int, int, str]] = []
    tensors: dict[str, WireTensor] = {}
    for name, info in doc.items():
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise CodecError(f"header entry {name!r} is malformed", param=name)
        dtype, shape, offs = info["dtype"], info["shape"], info["data_offsets"]
        if dtype not in _NP:
            raise CodecError(f"tensor {name!r} has unsupported dtype {dtype!r}", param=name)
        if not isinstance(shape, list) or len(shape) > 8 or not all(_int(d) for d in shape):
            raise CodecError(f"tensor {name!r} has a malformed shape", param=name)
        if not (isinstance(offs, list) and len(offs) == 2 and _int(offs[0]) and _int(offs[1])):
            raise CodecError(f"tensor {name!r} has malformed data_offsets", param=name)
        numel = 1
        for d in shape:
            numel *= d
        item = _NP[dtype].itemsize
        begin, end = offs
        if end < begin or end > data_len or end - begin != numel * item or begin % item:
            raise CodecError(
                f"tensor {name!r}: offsets [{begin}, {end}] do not hold shape {shape} of {dtype} "
                f"in a data section of {data_len} bytes",
                param=name,
            )
        spans.append((begin, end, name))
        tensors[name] = WireTensor(dtype, tuple(shape), data0 + begin, numel)
    pos = 0
    for begin, end, name in sorted(spans):
        if begin != pos:
            raise CodecError(f"tensor {name!r} overlaps or leaves a gap in the data section", param=name)
        pos = end
    if pos != data_len:
        raise CodecError(f"data section has {data_len - pos} bytes that no tensor claims", param="body")
    return Body(mv, meta, tensors)
