"""The AF over real HTTP: every bad input gets a 4xx ProblemDetails, and nothing accepted is lost."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest
import torch

from af_server.app import create_app
from af_server.settings import AfSettings
from flcore.codecs import encode
from flcore.models import build_model, float_state
from flcore.wire import bytes_to_state, state_to_bytes
from tests.servers import serve

pytestmark = pytest.mark.integration

WRITE, READ, ENROLL = "op-write-token", "op-read-token", "enroll-key"
GPSI = "msisdn-910000000001"


@pytest.fixture
def af(redis_url, tmp_path):
    settings = AfSettings(
        redis_url=redis_url,
        redis_prefix=f"fl5gtest-{uuid.uuid4().hex[:8]}",
        state_dir=tmp_path,
        operator_write_tokens=[WRITE],
        operator_read_tokens=[READ],
        ue_enrollment_keys=[ENROLL],
        max_upload_bytes=4 * 1024 * 1024,
        lock_ttl_s=2.0,
    )
    with serve(create_app(settings)) as url:
        yield url


def _problem(r: httpx.Response, status: int, param: str | None = None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == status and body["title"] and body["detail"] and body["cause"]
    if param is not None:
        assert param in [p["param"] for p in body.get("invalidParams", [])], body
    return body


def _register(c: httpx.Client, gpsi: str = GPSI) -> str:
    r = c.post("/af/v1/ues", json={"gpsi": gpsi, "num_samples": 100}, headers={"Fl5g-Enrollment-Key": ENROLL})
    assert r.status_code == 201, r.text
    return r.json()["token"]


def test_registration_refuses_bad_input(af):
    with httpx.Client(base_url=af) as c:
        _problem(c.post("/af/v1/ues", json={"gpsi": GPSI, "num_samples": 1}), 401, "Fl5g-Enrollment-Key")
        hdr = {"Fl5g-Enrollment-Key": ENROLL}
        _problem(
            c.post("/af/v1/ues", content=b"{not json", headers={**hdr, "content-type": "application/json"}),
            400,
        )
        _problem(
            c.post("/af/v1/ues", json={"gpsi": "imsi-001010000000001", "num_samples": 1}, headers=hdr),
            400,
            "/gpsi",
        )
        _problem(
            c.post("/af/v1/ues", json={"gpsi": GPSI, "num_samples": "many"}, headers=hdr), 400, "/num_samples"
        )
        _problem(
            c.post("/af/v1/ues", json={"gpsi": GPSI, "num_samples": 1, "supi": "x"}, headers=hdr),
            400,
            "/supi",
        )
        phone = {"train_power_w": 4.0, "ul_power_w": 2.5, "dl_power_w": 1.2}
        for field, value in (("ul_power_w", -1.0), ("train_power_w", 1e9), ("dl_power_w", "NaN")):
            body = _problem(
                c.post(
                    "/af/v1/ues",
                    json={"gpsi": GPSI, "num_samples": 1, "energy_profile": phone | {field: value}},
                    headers=hdr,
                ),
                400,
                f"/energy_profile/{field}",
            )
            assert len(body["invalidParams"]) == 1, body  # only the wrong field is named
        _problem(
            c.post(
                "/af/v1/ues",
                json={"gpsi": GPSI, "num_samples": 1, "energy_profile": {"train_power_w": 4.0}},
                headers=hdr,
            ),
            400,
            "/energy_profile/ul_power_w",
        )
        for value in (-0.1, 0.0, "NaN", 1e9, "fast"):
            _problem(
                c.post(
                    "/af/v1/ues",
                    json={"gpsi": GPSI, "num_samples": 1, "compute_profile": {"seconds_per_step": value}},
                    headers=hdr,
                ),
                400,
                "/compute_profile/seconds_per_step",
            )
        # a good profile is taken
        r = c.post("/af/v1/ues", json={"gpsi": GPSI, "num_samples": 1, "energy_profile": phone}, headers=hdr)
        assert r.status_code == 201, r.text


def test_operator_api_auth_and_validation(af):
    with httpx.Client(base_url=af) as c:
        _problem(c.get("/af/v1/jobs"), 401, "Authorization")
        _problem(c.get("/af/v1/jobs", headers={"Authorization": "Bearer nope"}), 401)
        _problem(c.get("/af/v1/jobs", headers={"Authorization": "Basic abc"}), 401, "Authorization")
        assert c.get("/af/v1/jobs", headers={"Authorization": f"Bearer {READ}"}).status_code == 200
        _problem(c.post("/af/v1/jobs", json={}, headers={"Authorization": f"Bearer {READ}"}), 403)
        w = {"Authorization": f"Bearer {WRITE}"}
        _problem(c.post("/af/v1/jobs", json={"rounds": "x"}, headers=w), 400, "/rounds")
        _problem(c.post("/af/v1/jobs", json={"model": "resnet9000"}, headers=w), 400, "/model")
        _problem(c.post("/af/v1/jobs", json={"rounds": 0}, headers=w), 400, "/rounds")
        _problem(c.post("/af/v1/jobs", json={"bogus": 1}, headers=w), 400, "/bogus")
        for cap in (0, -1.0, "NaN"):
            _problem(c.post("/af/v1/jobs", json={"max_energy_j": cap}, headers=w), 400, "/max_energy_j")
        _problem(c.post("/af/v1/jobs", json={"selection": "greenest"}, headers=w), 400, "/selection")
        _problem(c.get("/af/v1/jobs/doesnotexist", headers=w), 404, "jobId")
        _problem(c.get("/af/v1/jobs/bad$id", headers=w), 400)
        _problem(c.get("/af/v1/ue/task", headers={"Authorization": "Bearer forged"}), 401)


def _wait_task(c: httpx.Client, token: str) -> dict:
    for _ in range(20):
        r = c.get("/af/v1/ue/task", params={"wait": 2}, headers={"Authorization": f"Bearer {token}"})
        if r.status_code == 200:
            return r.json()
        assert r.status_code in (204, 503), r.text
    raise AssertionError("no task")


def test_upload_checks_and_no_accepted_update_lost(af):
    with httpx.Client(base_url=af, timeout=30) as c:
        token = _register(c)
        w = {"Authorization": f"Bearer {WRITE}"}
        spec = {
            "rounds": 1,
            "ues_per_round": 1,
            "selection": "random",
            "deadline": {"mode": "fixed", "seconds": 20},
            "seed": 5,
        }
        # a single-UE round: the other UE must not be selected, so it registers once the round is open
        job = c.post("/af/v1/jobs", json=spec, headers=w).json()
        task = _wait_task(c, token)
        other = _register(c, "msisdn-910000000002")
        ue = {"Authorization": f"Bearer {token}"}
        r = c.get(task["model_url"], headers=ue)
        assert r.status_code == 200 and r.headers["etag"]
        assert c.get(task["model_url"], headers={**ue, "If-None-Match": r.headers["etag"]}).status_code == 304
        base = bytes_to_state(r.content)
        model = build_model("smallcnn")
        model.load_state_dict(base)
        update = {k: torch.full_like(v, 0.001) for k, v in float_state(model).items()}
        good = encode(update, codec="none")
        url = task["upload_url"]
        hdr = {**ue, "Fl5g-Num-Samples": "100"}
        wrong_round = url.replace(f"/rounds/{task['round']}/", f"/rounds/{task['round'] + 5}/")
        _problem(c.post(wrong_round, content=good, headers=hdr), 409, "round")
        _problem(c.post(url, content=good, headers={"Fl5g-Num-Samples": "100"}), 401)
        _problem(
            c.post(url, content=good, headers={"Authorization": f"Bearer {other}", "Fl5g-Num-Samples": "1"}),
            403,
        )
        _problem(c.post(url, content=good, headers={**ue}), 400, "fl5g-num-samples")
        _problem(
            c.post(url, content=good, headers={**ue, "Fl5g-Num-Samples": "ten"}), 400, "fl5g-num-samples"
        )
        renamed = dict(update)
        renamed["features.0.weightX"] = renamed.pop("features.0.weight")
        _problem(c.post(url, content=encode(renamed, codec="none"), headers=hdr), 400)
        reshaped = dict(update)
        reshaped["classifier.3.bias"] = torch.zeros(11)
        _problem(c.post(url, content=encode(reshaped, codec="none"), headers=hdr), 400)
        wrong_dtype = state_to_bytes({k: v.double() for k, v in update.items()})
        _problem(c.post(url, content=wrong_dtype, headers=hdr), 400)
        _problem(c.post(url, content=b"\x00" * 64, headers=hdr), 400)
        _problem(c.post(url, content=b"\x00" * (5 * 1024 * 1024), headers=hdr), 413, "Content-Length")
        nan = {k: v.clone() for k, v in update.items()}
        nan["classifier.3.bias"][0] = float("nan")
        _problem(
            c.post(url, content=state_to_bytes(nan, {"codec": "none", "codec_version": "1"}), headers=hdr),
            400,
        )
        # the rejected attempts did not use up the UE's report: the good one is taken
        ok = c.post(url, content=good, headers=hdr)
        assert ok.status_code == 200, ok.text
        assert ok.json()["outcome"] == "on_time"
        _problem(c.post(url, content=good, headers=hdr), 409)  # a replay
        # the round completes with exactly that update applied
        for _ in range(100):
            rounds = c.get(f"/af/v1/jobs/{job['id']}/rounds", headers=w).json()
            if rounds:
                break
            time.sleep(0.1)  # polling the operator API for the round record
        assert rounds[0]["status"] == "completed"
        assert [u["outcome"] for u in rounds[0]["ues"]] == ["on_time"]
        new = bytes_to_state(c.get(task["model_url"], headers=ue).content)
        for k, v in update.items():
            assert torch.allclose(new[k], base[k] + v, atol=1e-6), k
