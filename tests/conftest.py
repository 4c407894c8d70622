"""Shared fixtures: a real Redis, the dataset, free ports."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest
import redis
import redis.asyncio as aioredis


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The real redis-server the suite runs against (`make test` starts one when none answers)."""
    url = os.environ.get("FL5G_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.fail(f"no redis-server at {url} ({exc}); run `make redis` or set FL5G_TEST_REDIS_URL")
    return url


@pytest.fixture
async def aredis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
def prefix(redis_url: str) -> AsyncIterator[str]:
    """A key prefix of its own per test, removed afterwards."""
    p = f"fl5gtest-{uuid.uuid4().hex[:8]}"
    yield p  # type: ignore[misc]
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(f"{p}:*"))
    if keys:
        client.delete(*keys)
