"""Who may call the AF: operator roles, UE tokens bound to one GPSI (expiring, revocable, stored as
digests), the enrollment key, signed NEF callback URIs, body caps, and no built-in secret outside dev mode."""

from __future__ import annotations

import hmac
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis

from af_server import auth
from af_server.app import create_app
from af_server.routes.callbacks import notification_uri, sign
from af_server.settings import DEV_ENROLLMENT_KEY, DEV_NEF_SECRET, DEV_OPERATOR_TOKEN, AfSettings
from af_server.store import Store
from nef_mock.app import create_app as create_nef
from tests.nef_mock.conftest import UE, dev_settings
from tests.servers import serve

pytestmark = pytest.mark.integration

WRITE, READ, ENROLL = "op-write-token-0123", "op-read-token-4567", "enroll-key-89ab"
A, B = "msisdn-910000000101", "msisdn-910000000102"


def settings_for(redis_url: str, prefix: str, tmp_path: Any, **extra: Any) -> AfSettings:
    values: dict[str, Any] = {
        "redis_url": redis_url,
        "redis_prefix": prefix,
        "state_dir": tmp_path,
        "operator_write_tokens": [WRITE],
        "operator_read_tokens": [READ],
        "ue_enrollment_keys": [ENROLL],
        "lock_ttl_s": 2.0,
        "long_poll_max_s": 2.0,
    }
    return AfSettings(**(values | extra))


class Notifications:
    """The AF's ``on_nef_notification`` hook: records what the callback route handed on."""

    def __init__(self) -> None:
        self.got: list[tuple[str, str, Any]] = []
        self._cond = threading.Condition()

    async def __call__(self, kind: str, correlation: str, body: Any) -> None:
        with self._cond:
            self.got.append((kind, correlation, body))
            self._cond.notify_all()

    def wait(self, count: int, timeout: float) -> list[tuple[str, str, Any]]:
        with self._cond:
            self._cond.wait_for(lambda: len(self.got) >= count, timeout=timeout)
            return list(self.got)


@pytest.fixture
def af(redis_url, prefix, tmp_path):
    app = create_app(settings_for(redis_url, prefix, tmp_path, ue_token_ttl_s=3600))
    with serve(app) as url:
        app.state.on_nef_notification = Notifications()  # after the lifespan, which sets its own
        yield url, app


def _problem(r: httpx.Response, status: int, cause: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    if cause is not None:
        assert body["cause"] == cause, body
    return body


def _register(c: httpx.Client, gpsi: str) -> str:
    r = c.post("/af/v1/ues", json={"gpsi": gpsi, "num_samples": 10}, headers={"Fl5g-Enrollment-Key": ENROLL})
    assert r.status_code == 201, r.text
    token: str = r.json()["token"]
    return token


def _ue(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# Settings ------------------------------------------------------------------------------------------
def test_built_in_secrets_are_refused_outside_dev_mode(monkeypatch):
    for name in ("AF_DEV_MODE", "AF_OPERATOR_WRITE_TOKENS", "AF_UE_ENROLLMENT_KEYS", "AF_NEF_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValueError, match="AF_OPERATOR_WRITE_TOKENS.*AF_UE_ENROLLMENT_KEYS"):
        AfSettings()
    with pytest.raises(ValueError, match="AF_OPERATOR_WRITE_TOKENS/AF_OPERATOR_READ_TOKENS"):
        AfSettings(
            operator_write_tokens=["real"],
            operator_read_tokens=[DEV_OPERATOR_TOKEN],
            ue_enrollment_keys=["k"],
        )
    with pytest.raises(ValueError, match="AF_NEF_CLIENT_SECRET"):
        AfSettings(operator_write_tokens=["w"], ue_enrollment_keys=["k"], nef_url="http://nef")
    assert (
        AfSettings(
            operator_write_tokens=["w"],
            ue_enrollment_keys=["k"],
            nef_url="http://nef",
            nef_client_secret="s3cret",
        ).nef_client_secret
        == "s3cret"
    )
    # the switch is explicit, and read from the environment like every other setting
    monkeypatch.setenv("AF_DEV_MODE", "true")
    dev = AfSettings(nef_url="http://nef")
    assert dev.dev_mode and dev.operator_write_tokens == [DEV_OPERATOR_TOKEN]
    assert dev.ue_enrollment_keys == [DEV_ENROLLMENT_KEY] and dev.nef_client_secret == DEV_NEF_SECRET
    monkeypatch.setenv("AF_DEV_MODE", "false")
    monkeypatch.setenv("AF_OPERATOR_WRITE_TOKENS", '["from-a-secret"]')
    monkeypatch.setenv("AF_UE_ENROLLMENT_KEYS", '["also-from-a-secret"]')
    real = AfSettings()
    assert real.operator_write_tokens == ["from-a-secret"] and real.ue_enrollment_keys == [
        "also-from-a-secret"
    ]


def test_token_lists_are_compared_in_constant_time(monkeypatch):
    settings = AfSettings(operator_write_tokens=["w1", "w2-longer", "w3"], ue_enrollment_keys=["k"])
    seen: list[tuple[int, int]] = []
    real = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        seen.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", counting)  # the module af_server.auth uses
    assert auth.operator_role(settings, "Bearer w1", "write") == "write"
    # every entry is compared even after the first matched, always as fixed-length digests
    assert seen == [(32, 32)] * 3


# Operator API ----------------------------------------------------------------------------------------
def test_operator_roles(af):
    url, _ = af
    with httpx.Client(base_url=url) as c:
        r = _problem(c.get("/af/v1/jobs"), 401, "UNAUTHORIZED")
        assert r["invalidParams"][0]["param"] == "Authorization"
        bad = c.get("/af/v1/jobs", headers={"Authorization": "Bearer not-a-token"})
        _problem(bad, 401, "INVALID_TOKEN")
        assert 'error="invalid_token"' in bad.headers["www-authenticate"]
        read = {"Authorization": f"Bearer {READ}"}
        write = {"Authorization": f"Bearer {WRITE}"}
        assert c.get("/af/v1/jobs", headers=read).status_code == 200
        _problem(c.post("/af/v1/jobs", json={"rounds": 1}, headers=read), 403, "INSUFFICIENT_ROLE")
        _problem(c.delete(f"/af/v1/ues/{A}/tokens", headers=read), 403, "INSUFFICIENT_ROLE")
        created = c.post("/af/v1/jobs", json={"rounds": 1, "selection": "all"}, headers=write)
        assert created.status_code == 201, created.text
        job = created.json()["id"]
        assert c.get(f"/af/v1/jobs/{job}", headers=read).status_code == 200
        _problem(c.post(f"/af/v1/jobs/{job}/stop", headers=read), 403, "INSUFFICIENT_ROLE")
        assert c.post(f"/af/v1/jobs/{job}/stop", headers=write).json()["status"] == "stopped"
        # a UE token is no operator token
        _problem(c.get("/af/v1/jobs", headers=_ue(_register(c, A))), 401, "INVALID_TOKEN")


# UE tokens -------------------------------------------------------------------------------------------
def test_registration_needs_the_enrollment_key_before_anything_else(af):
    url, _ = af
    with httpx.Client(base_url=url) as c:
        _problem(c.post("/af/v1/ues", json={"gpsi": A, "num_samples": 1}), 401, "UNAUTHORIZED")
        wrong = {"Fl5g-Enrollment-Key": ENROLL + "x"}
        _problem(c.post("/af/v1/ues", json={"gpsi": A, "num_samples": 1}, headers=wrong), 401)
        # without the key, a malformed body is not even looked at
        _problem(c.post("/af/v1/ues", json={"gpsi": "nope"}), 401, "UNAUTHORIZED")


def test_ue_tokens_are_bound_stored_as_digests_and_revocable(af, redis_url, prefix):
    url, _ = af
    with httpx.Client(base_url=url, timeout=10) as c:
        ta, tb = _register(c, A), _register(c, B)
        assert ta != tb
        raw = redis.Redis.from_url(redis_url)
        stored = b"".join(k + (raw.get(k) or b"") for k in raw.scan_iter(f"{prefix}:tok:*"))
        assert ta.encode() not in stored and tb.encode() not in stored
        assert auth.digest(ta).encode() in stored
        # a UE's task is its own: the token names the UE, nothing in the request can
        assert c.get("/af/v1/ue/task", headers=_ue(ta)).status_code == 204
        _problem(
            c.get("/af/v1/ue/task", headers={"Authorization": "Bearer " + ta[:-2]}), 401, "INVALID_TOKEN"
        )
        _problem(c.get("/af/v1/ue/task", headers={"Authorization": f"Bearer {WRITE}"}), 401, "INVALID_TOKEN")
        # revocation: every token of A stops working at once, B's keeps working
        ta2 = _register(c, A)
        assert (
            c.delete(f"/af/v1/ues/{A}/tokens", headers={"Authorization": f"Bearer {WRITE}"}).status_code
            == 204
        )
        _problem(c.get("/af/v1/ue/task", headers=_ue(ta)), 401, "INVALID_TOKEN")
        _problem(c.get("/af/v1/ue/task", headers=_ue(ta2)), 401, "INVALID_TOKEN")
        assert c.get("/af/v1/ue/task", headers=_ue(tb)).status_code == 204
        # and A may register again (it holds the enrollment key)
        assert c.get("/af/v1/ue/task", headers=_ue(_register(c, A))).status_code == 204


def test_ue_tokens_expire(redis_url, prefix, tmp_path):
    app = create_app(settings_for(redis_url, prefix, tmp_path, ue_token_ttl_s=1))
    with serve(app) as url, httpx.Client(base_url=url, timeout=10) as c:
        r = c.post("/af/v1/ues", json={"gpsi": A, "num_samples": 1}, headers={"Fl5g-Enrollment-Key": ENROLL})
        assert r.json()["expires_in"] == 1
        token = r.json()["token"]
        assert c.get("/af/v1/ue/task", headers=_ue(token)).status_code == 204
        end = time.monotonic() + 10
        status = 204
        while status == 204 and time.monotonic() < end:  # polling the API until the token lapses
            status = c.get("/af/v1/ue/task", headers=_ue(token)).status_code
        assert status == 401


def test_upload_only_for_an_iteration_the_ue_was_selected_for(af):
    url, _ = af
    with httpx.Client(base_url=url, timeout=30) as c:
        ta = _register(c, A)
        write = {"Authorization": f"Bearer {WRITE}"}
        spec = {"rounds": 1, "selection": "all", "deadline": {"mode": "fixed", "seconds": 30}}
        job = c.post("/af/v1/jobs", json=spec, headers=write).json()["id"]
        task = None
        for _ in range(20):  # long-polls, bounded
            r = c.get("/af/v1/ue/task", params={"wait": 2}, headers=_ue(ta))
            if r.status_code == 200:
                task = r.json()
                break
        assert task is not None and task["job_id"] == job
        # B registered after the iteration opened: not selected for it
        tb = _register(c, B)
        hdr = {"Fl5g-Num-Samples": "1", "Content-Type": "application/vnd.safetensors"}
        _problem(c.post(task["upload_url"], content=b"x", headers={**hdr, **_ue(tb)}), 403, "NOT_SELECTED")
        other_round = task["upload_url"].replace(f"/rounds/{task['round']}/", "/rounds/7/")
        _problem(c.post(other_round, content=b"x", headers={**hdr, **_ue(ta)}), 409, "WRONG_ROUND")
        _problem(c.post(task["upload_url"], content=b"x", headers=hdr), 401)
        c.post(f"/af/v1/jobs/{job}/stop", headers=write)


# NEF callbacks ---------------------------------------------------------------------------------------
async def _uri(redis_url: str, prefix: str, base: str, kind: Any, corr: str) -> str:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        return await notification_uri(Store(client, prefix), base, kind, corr)
    finally:
        await client.aclose()


async def test_nef_callbacks_need_a_uri_the_af_signed(af, redis_url, prefix):
    url, app = af
    got: Notifications = app.state.on_nef_notification
    good = await _uri(redis_url, prefix, url, "monitoring", "job-1")
    path = good.removeprefix(url)
    _, _, _, _, _, kind, corr, sig = path.split("/")
    assert (kind, corr, len(sig)) == ("monitoring", "job-1", 43)
    async with httpx.AsyncClient(base_url=url) as c:
        forged = [
            f"/af/v1/callbacks/nef/monitoring/job-1/{'A' * 43}",  # made-up signature
            f"/af/v1/callbacks/nef/qos/job-1/{sig}",  # signature of another kind
            f"/af/v1/callbacks/nef/monitoring/job-2/{sig}",  # of another correlation
            f"/af/v1/callbacks/nef/monitoring/job-1/{sign('another-key', 'monitoring', 'job-1')}",
        ]
        for p in forged:
            _problem(await c.post(p, json={"x": 1}), 401, "UNAUTHORIZED")
        # the old, unsigned route is gone; malformed parts are refused
        assert (await c.post("/af/v1/callbacks/nef/monitoring", json={})).status_code in (404, 405)
        _problem(await c.post(f"/af/v1/callbacks/nef/monitoring/job-1/{sig[:-1]}", json={}), 400)
        _problem(await c.post(f"/af/v1/callbacks/nef/radio/job-1/{sig}", json={}), 400)
        assert got.got == []
        ok = await c.post(path, json={"subscription": "s", "monitoringEventReports": []})
        assert ok.status_code == 204, ok.text
    assert got.got == [("monitoring", "job-1", {"subscription": "s", "monitoringEventReports": []})]
    # another replica on the same Redis (or this one restarted) verifies the same URI
    with pytest.raises(ValueError):
        await _uri(redis_url, prefix, url, "monitoring", "bad/correlation")
    assert await _uri(redis_url, prefix, "http://other:1", "monitoring", "job-1") == good.replace(
        url, "http://other:1"
    )


def test_the_nef_mock_delivers_to_a_signed_uri_and_forged_ones_are_refused(af, redis_url, prefix):
    """Compatibility: the NEF mock POSTs to exactly the URI given; a forged one gets 401, not retried."""
    import asyncio

    url, app = af
    got: Notifications = app.state.on_nef_notification
    good = asyncio.run(_uri(redis_url, prefix, url, "monitoring", "loc-test"))
    forged = f"{url}/af/v1/callbacks/nef/monitoring/loc-test/{'B' * 43}"
    nef_app = create_nef(dev_settings(notify_retries=3))
    with serve(nef_app) as nef, httpx.Client(base_url=nef, timeout=10) as c:
        for dest in (forged, good):
            r = c.post(
                "/3gpp-monitoring-event/v1/fl5g-af/subscriptions",
                json={
                    "msisdn": UE.removeprefix("msisdn-"),
                    "monitoringType": "LOSS_OF_CONNECTIVITY",
                    "maximumNumberOfReports": 1,
                    "notificationDestination": dest,
                },
            )
            assert r.status_code == 201, r.text
        c.put(f"/emulator/v1/ues/{UE}/override", json={"connected": False})
        [(kind, corr, body)] = got.wait(1, timeout=15)
        assert (kind, corr) == ("monitoring", "loc-test")
        assert body["monitoringEventReports"][0]["monitoringType"] == "LOSS_OF_CONNECTIVITY"

        def outcome(name: str) -> float:
            text = c.get("/metrics").text
            line = next(
                (x for x in text.splitlines() if x.startswith("nef_notifications_total") and name in x), ""
            )
            return float(line.rsplit(" ", 1)[1]) if line else 0.0

        end = time.monotonic() + 10
        while outcome('outcome="rejected"') < 1 and time.monotonic() < end:  # polling NEF metrics
            time.sleep(0.05)
        assert outcome('outcome="rejected"') == 1  # 401: refused once, no retries
        assert outcome('outcome="delivered"') == 1
    assert len(got.got) == 1


# Bodies ----------------------------------------------------------------------------------------------
def test_oversized_json_bodies_are_refused_before_they_are_read(af):
    url, _ = af
    with httpx.Client(base_url=url) as c:
        big = b'{"gpsi": "' + b"1" * (1 << 20) + b'"}'
        r = c.post("/af/v1/ues", content=big, headers={"Content-Type": "application/json"})
        _problem(r, 413, "PAYLOAD_TOO_LARGE")

        def chunks() -> Iterator[bytes]:
            for _ in range(64):
                yield b" " * 8192

        r = c.post("/af/v1/jobs", content=chunks(), headers={"Authorization": f"Bearer {WRITE}"})
        _problem(r, 413, "PAYLOAD_TOO_LARGE")
        # small bodies still go through
        _problem(c.post("/af/v1/ues", json={"gpsi": A, "num_samples": 1}), 401)
