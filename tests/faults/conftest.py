"""Helpers for the fault tests: services as real processes that a test can kill and restart on the same
port, a redis-server of the test's own, and UEs driven by the test over real HTTP.

Everything listens on 127.0.0.1 only. Waits are bounded polls of observable state (an HTTP answer, a
round record, a metric), never sleeps standing in for synchronisation.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import redis
import torch

from fl5g.launcher import _die_with_parent, free_port, tail
from flcore.codecs import encode
from flcore.wire import SAFETENSORS, bytes_to_state

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]


def wait_for(what: str, check: Callable[[], T | None], timeout: float, every: float = 0.05) -> T:
    """Poll ``check`` until it returns something other than None; fail after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while True:
        with contextlib.suppress(httpx.HTTPError):
            value = check()
            if value is not None:
                return value
        if time.monotonic() > end:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)  # polling an observable condition, bounded by timeout


# Processes ------------------------------------------------------------------------------------------
@dataclass
class Service:
    """One ``fl5g serve <service>`` process on a fixed loopback port, restartable in place."""

    name: str
    service: str
    env: dict[str, str]
    workdir: Path
    port: int = field(default_factory=free_port)
    popen: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.workdir / f"{self.name}.log"

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def start(self) -> Service:
        cmd = [sys.executable, "-m", "fl5g.cli", "serve", self.service, "--host", "127.0.0.1", "--port"]
        env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}
        with self.log.open("ab") as fh:
            fh.write(f"--- start {self.starts} ---\n".encode())
            fh.flush()
            self.popen = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
                [*cmd, str(self.port)],
                env=env,
                cwd=ROOT,
                stdout=fh,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,  # noqa: PLW1509
            )
        self.starts += 1
        return self

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", timeout=kw.pop("timeout", 5.0), **kw)

    def ready(self) -> int | None:
        """The /readyz status, None while nothing answers."""
        try:
            return self.get("/readyz", timeout=2.0).status_code
        except httpx.HTTPError:
            return None

    def wait_ready(self, timeout: float = 60.0) -> None:
        def check() -> bool | None:
            if not self.alive():
                pytest.fail(
                    f"{self.name} exited with {self.popen and self.popen.returncode}:\n{tail(self.log)}"
                )
            return True if self.ready() == 200 else None

        wait_for(f"{self.name} to be ready", check, timeout)

    def signal(self, sig: int) -> None:
        assert self.popen is not None
        self.popen.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as when a node dies."""
        if self.alive():
            assert self.popen is not None
            self.popen.kill()
            self.popen.wait(timeout=10)

    def stop(self) -> None:
        if self.alive():
            assert self.popen is not None
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.popen.pid, signal.SIGCONT)  # a stopped process cannot act on SIGTERM
            self.popen.terminate()
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def metric(self, name: str, labels: str = "") -> float | None:
        """The sum of the samples of ``name`` on /metrics whose labels contain ``labels`` (as written
        there, e.g. 'outcome="late"'); None when there is none."""
        found = None
        for line in self.get("/metrics").text.splitlines():
            head = line.split(" ", 1)[0]
            if (head == name or head.startswith(name + "{")) and labels in head:
                found = (found or 0.0) + float(line.rsplit(" ", 1)[1])
        return found


@dataclass
class Secrets:
    operator: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    enrollment: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    nef_client: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    nef_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))


@dataclass
class Cluster:
    """Processes of one test: real secrets (no dev mode), one Redis prefix, one state directory."""

    workdir: Path
    redis_url: str
    prefix: str = field(default_factory=lambda: f"fl5gfault-{uuid.uuid4().hex[:8]}")
    keys: Secrets = field(default_factory=Secrets)
    services: list[Service] = field(default_factory=list)

    def nef(self, **env: str) -> Service:
        clients = {"fl5g-af": {"secret": self.keys.nef_client, "afId": "fl5g-af"}}
        base = {
            "NEF_CLIENTS": json.dumps(clients),
            "NEF_TOKEN_SECRET": self.keys.nef_token,
        }
        return self._add(Service("nef", "nef", base | env, self.workdir))

    def af(self, nef: Service | None = None, **env: str) -> Service:
        base = {
            "FL5G_REDIS_URL": self.redis_url,
            "AF_REDIS_PREFIX": self.prefix,
            "AF_STATE_DIR": str(self.workdir / "af"),
            "AF_OPERATOR_WRITE_TOKENS": json.dumps([self.keys.operator]),
            "AF_UE_ENROLLMENT_KEYS": json.dumps([self.keys.enrollment]),
            "AF_LOCK_TTL_S": "2",
        }
        if nef is not None:
            base |= {
                "AF_NEF_URL": nef.url,
                "AF_NEF_CLIENT_ID": "fl5g-af",
                "AF_NEF_CLIENT_SECRET": self.keys.nef_client,
            }
        svc = Service("af", "af", base | env, self.workdir)
        svc.env["AF_PUBLIC_URL"] = svc.url
        return self._add(svc)

    def ues(self, af: Service, count: int, **env: str) -> Service:
        base = {
            "UE_AF_URL": af.url,
            "UE_ENROLLMENT_KEY": self.keys.enrollment,
            "UE_COUNT": str(count),
            "UE_TRAIN_WORKERS": "1",
            "UE_PACE": "false",
            "UE_POLL_WAIT_S": "2",
        }
        return self._add(Service(f"ue{len(self.services)}", "ue", base | env, self.workdir))

    def _add(self, svc: Service) -> Service:
        self.services.append(svc)
        return svc

    def operator(self, af: Service) -> httpx.Client:
        return httpx.Client(
            base_url=af.url, headers={"Authorization": f"Bearer {self.keys.operator}"}, timeout=10.0
        )

    def close(self) -> None:
        for svc in reversed(self.services):
            svc.stop()
        client = redis.Redis.from_url(self.redis_url, socket_connect_timeout=2)
        with contextlib.suppress(redis.RedisError):
            keys = list(client.scan_iter(f"{self.prefix}:*"))
            if keys:
                client.delete(*keys)
        client.close()

    def dump_logs(self) -> str:
        return "\n".join(f"== {s.name}\n{tail(s.log, 40)}" for s in self.services)


@pytest.fixture
def cluster(tmp_path: Path, redis_url: str, request: pytest.FixtureRequest) -> Iterator[Cluster]:
    c = Cluster(tmp_path, redis_url)
    try:
        yield c
    finally:
        rep = getattr(request.node, "rep_call", None)
        if rep is not None and rep.failed:
            print(c.dump_logs())  # noqa: T201 (shown with the failure)
        c.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    rep = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"rep_{rep.when}", rep)


# A redis-server of the test's own ---------------------------------------------------------------------
@dataclass
class RedisServer:
    """``redis-server`` on a free loopback port; AOF with fsync on every write, so SIGKILL loses nothing."""

    workdir: Path
    port: int = field(default_factory=free_port)
    popen: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed")
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = (self.workdir / "redis.log").open("ab")
        self.popen = subprocess.Popen(  # noqa: S603
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.workdir),
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,  # noqa: PLW1509
        )
        log.close()
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        wait_for("redis-server", lambda: True if _pings(client) else None, 10)
        client.close()
        return self

    def kill(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(timeout=10)

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.terminate()
            self.popen.wait(timeout=10)


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


# UEs driven by the test ----------------------------------------------------------------------------------
class TestUe:
    """A UE the test drives by hand over HTTP: register, take a task, fetch the model, upload."""

    __test__ = False

    def __init__(self, af_url: str, gpsi: str, enrollment_key: str, num_samples: int = 10) -> None:
        self.gpsi = gpsi
        self.num_samples = num_samples
        self.http = httpx.Client(base_url=af_url, timeout=30.0)
        self.enrollment_key = enrollment_key
        self.token: str | None = None
        self.unavailable = False

    def register(self) -> TestUe:
        r = self.http.post(
            "/af/v1/ues",
            json={
                "gpsi": self.gpsi,
                "num_samples": self.num_samples,
                "compute_profile": {"seconds_per_step": 0.01},
            },
            headers={"Fl5g-Enrollment-Key": self.enrollment_key},
        )
        assert r.status_code == 201, r.text
        self.token = r.json()["token"]
        return self

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def poll_task(self, wait: float = 1.0) -> dict[str, Any] | None:
        r = self.http.get("/af/v1/ue/task", params={"wait": wait}, headers=self.auth, timeout=wait + 10)
        if r.status_code == 200:
            task: dict[str, Any] = r.json()
            return task
        assert r.status_code in (204, 503), r.text
        self.unavailable = r.status_code == 503
        return None

    def task(self, timeout: float = 30.0) -> dict[str, Any]:
        return wait_for(f"a task for {self.gpsi}", lambda: self.poll_task(1.0), timeout, every=0.0)

    def model(self, task: dict[str, Any]) -> dict[str, torch.Tensor]:
        r = self.http.get(task["model_url"], headers=self.auth)
        assert r.status_code == 200, r.text
        return bytes_to_state(r.content)

    def upload(self, task: dict[str, Any], body: bytes, samples: int | None = None) -> httpx.Response:
        headers = {
            **self.auth,
            "Content-Type": SAFETENSORS,
            "Fl5g-Num-Samples": str(samples or self.num_samples),
        }
        return self.http.post(task["upload_url"], content=body, headers=headers)

    def close(self) -> None:
        self.http.close()


def constant_update(state: dict[str, torch.Tensor], value: float) -> dict[str, torch.Tensor]:
    return {k: torch.full_like(v, value) for k, v in state.items() if v.is_floating_point()}


def encoded(update: dict[str, torch.Tensor]) -> bytes:
    return encode(update, codec="none")


class UeLoop:
    """Test UEs in a thread that take every task they are given and upload a small constant update,
    until stopped. Answers other than 200 are counted, never raised: the faults cause them."""

    def __init__(self, ues: list[TestUe], value: float = 1e-4, compute_s: float = 0.0) -> None:
        self.ues = ues
        self.value = value
        self.compute_s = compute_s  # stands for local training between download and upload
        self.stop = threading.Event()
        self.uploads: dict[str, int] = {}
        self.errors: list[str] = []
        self._threads = [threading.Thread(target=self._run, args=(u,), daemon=True) for u in ues]

    def __enter__(self) -> UeLoop:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self._threads:
            t.join(timeout=15)

    def _run(self, ue: TestUe) -> None:
        bodies: dict[str, bytes] = {}
        while not self.stop.is_set():
            try:
                if ue.token is None:
                    ue.register()
                task = ue.poll_task(1.0)
                if task is None:
                    if ue.unavailable:
                        self.stop.wait(0.2)  # a 503 answers at once: back off, like a UE agent
                    continue
                if task["job_id"] not in bodies:
                    bodies[task["job_id"]] = encoded(constant_update(ue.model(task), self.value))
                if self.compute_s:
                    self.stop.wait(self.compute_s)
                r = ue.upload(task, bodies[task["job_id"]])
                key = f"{r.status_code}"
                self.uploads[key] = self.uploads.get(key, 0) + 1
                if r.status_code == 401:
                    ue.token = None
                elif r.status_code >= 500:
                    self.stop.wait(0.2)
            except (httpx.HTTPError, AssertionError) as exc:
                self.errors.append(f"{type(exc).__name__}: {exc}"[:200])
                self.stop.wait(0.2)  # back off after a failure, like a UE agent


def job_rounds(op: httpx.Client, job_id: str) -> list[dict[str, Any]]:
    rounds: list[dict[str, Any]] = op.get(f"/af/v1/jobs/{job_id}/rounds").raise_for_status().json()
    return rounds


def create_job(op: httpx.Client, spec: dict[str, Any]) -> str:
    r = op.post("/af/v1/jobs", json=spec)
    assert r.status_code == 201, r.text
    job_id: str = r.json()["id"]
    return job_id
