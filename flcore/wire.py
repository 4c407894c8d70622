"""The binary wire: safetensors bodies, sent as memoryview chunks and read into preallocated buffers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

CHUNK = 1 << 20
SAFETENSORS = "application/vnd.safetensors"


class BodyError(ValueError):
    """A request body that is too long, too short or not what its headers promised."""

    def __init__(self, message: str, *, status: int = 400, param: str = "body") -> None:
        super().__init__(message)
        self.status = status
        self.param = param


def state_to_bytes(state: Mapping[str, torch.Tensor], metadata: Mapping[str, str] | None = None) -> bytes:
    return st_save({k: v.detach().contiguous() for k, v in state.items()}, metadata=dict(metadata or {}))


def bytes_to_state(body: bytes | bytearray | memoryview) -> dict[str, torch.Tensor]:
    try:
        return st_load(bytes(body))
    except Exception as exc:  # safetensors raises its own SafetensorError and others
        raise BodyError(f"not a safetensors body: {exc}") from None


def iter_chunks(data: bytes | bytearray | memoryview, chunk: int = CHUNK) -> Iterator[memoryview]:
    """Slices without copies: an httpx ``content=`` iterator that avoids its quadratic bytes path."""
    mv = memoryview(data).cast("B")
    for i in range(0, len(mv), chunk):
        yield mv[i : i + chunk]


def parse_content_length(value: str | None, *, limit: int) -> int:
    """The declared body size, refused when absent (411), malformed (400) or above ``limit`` (413)."""
    if value is None:
        raise BodyError("Content-Length is required for uploads", status=411, param="Content-Length")
    try:
        n = int(value)
    except ValueError:
        raise BodyError(f"Content-Length {value!r} is not an integer", param="Content-Length") from None
    if n < 0:
        raise BodyError("Content-Length is negative", param="Content-Length")
    if n > limit:
        raise BodyError(
            f"body of {n} bytes is over the limit of {limit} bytes", status=413, param="Content-Length"
        )
    return n


async def read_exactly(stream: AsyncIterator[bytes], length: int) -> bytearray:
    """Stream a body into one preallocated buffer; refuse a body that is longer or shorter than promised."""
    buf = bytearray(length)
    mv = memoryview(buf)
    pos = 0
    async for piece in stream:
        n = len(piece)
        if pos + n > length:
            raise BodyError(
                f"body is longer than its Content-Length of {length} bytes", param="Content-Length"
            )
        mv[pos : pos + n] = piece
        pos += n
    if pos != length:
        raise BodyError(f"body ended after {pos} of {length} bytes", param="Content-Length")
    return buf
