"""Move the TR's 132 MByte payload (138,365,992 parameters at 8 bits) through the AF, beside raw TCP.

Upload: a UE's int8-encoded VGG16_BN update, streamed into the AF's preallocated buffer, decoded and
added into the running sum (the response comes after aggregation). Download: the int8 global model
(its body is built once per version on the first request; that warm-up is not timed).
Raw TCP: ``sendall`` into ``recv_into`` a preallocated buffer, same payload, same run.
"""

from __future__ import annotations

import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import torch

from bench.common import console, parser, save, table
from flcore.codecs import encode
from flcore.models import build_model, float_state
from flcore.wire import CHUNK, iter_chunks

PAYLOAD = 138_365_992


def raw_tcp(nbytes: int, reps: int) -> list[float]:
    data = bytearray(os.urandom(1 << 20)) * (nbytes // (1 << 20) + 1)
    mv = memoryview(data)[:nbytes]
    times = []
    for _ in range(reps):
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        port = srv.getsockname()[1]
        buf = bytearray(nbytes)

        def sink(srv: socket.socket = srv, buf: bytearray = buf) -> None:
            conn, _ = srv.accept()
            view, got = memoryview(buf), 0
            while got < nbytes:
                n = conn.recv_into(view[got:], min(nbytes - got, 1 << 22))
                if n == 0:
                    break
                got += n
            conn.sendall(b"k")
            conn.close()

        t = threading.Thread(target=sink)
        t.start()
        with socket.create_connection(("127.0.0.1", port)) as c:
            t0 = time.perf_counter()
            c.sendall(mv)
            c.recv(1)
            times.append(time.perf_counter() - t0)
        t.join()
        srv.close()
    return times


def through_af(reps: int, workdir: Path) -> dict[str, Any]:
    port_sock = socket.socket()
    port_sock.bind(("127.0.0.1", 0))
    port = port_sock.getsockname()[1]
    port_sock.close()
    op, enroll = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    env = {
        **os.environ,
        "AF_OPERATOR_WRITE_TOKENS": f'["{op}"]',
        "AF_UE_ENROLLMENT_KEYS": f'["{enroll}"]',
        "AF_STATE_DIR": str(workdir),
        "AF_REDIS_PREFIX": f"bench-{secrets.token_hex(4)}",
        "AF_MAX_UPLOAD_BYTES": str(200 * 1024 * 1024),
    }
    log = (workdir / "af.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "fl5g.cli", "serve", "af", "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=120) as c:
            for _ in range(600):
                try:
                    if c.get("/readyz").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)  # waiting for the AF process to listen, bounded
            tok = (
                c.post(
                    "/af/v1/ues",
                    json={"gpsi": "msisdn-990000000001", "num_samples": 1000},
                    headers={"Fl5g-Enrollment-Key": enroll},
                )
                .raise_for_status()
                .json()["token"]
            )
            ue = {"Authorization": f"Bearer {tok}"}
            spec = {
                "model": "vgg16_bn",
                "rounds": reps,
                "ues_per_round": 1,
                "selection": "all",
                "codec": "int8",
                "deadline": {"mode": "fixed", "seconds": 600},
            }
            c.post("/af/v1/jobs", json=spec, headers={"Authorization": f"Bearer {op}"}).raise_for_status()
            console.print("building a VGG16_BN update and its int8 body ...")
            model = build_model("vgg16_bn", seed=0)
            update = {k: torch.randn_like(v) * 1e-3 for k, v in float_state(model).items()}
            del model
            body = encode(update, codec="int8")
            del update
            ups, downs, sizes = [], [], {}
            for _ in range(reps):
                task = {}
                for _ in range(100):
                    r = c.get("/af/v1/ue/task", params={"wait": 5}, headers=ue)
                    if r.status_code == 200:
                        task = r.json()
                        break
                # the AF builds the int8 body once per version, on the first request: warm it, then time one
                c.get(task["model_url"], params={"codec": "int8"}, headers=ue).raise_for_status()
                t0 = time.perf_counter()
                with c.stream("GET", task["model_url"], params={"codec": "int8"}, headers=ue) as r:
                    n = int(r.headers["content-length"])
                    buf = bytearray(n)
                    view, got = memoryview(buf), 0
                    for piece in r.iter_raw(CHUNK):
                        view[got : got + len(piece)] = piece
                        got += len(piece)
                downs.append(time.perf_counter() - t0)
                sizes["download_bytes"] = n
                t0 = time.perf_counter()
                r = c.post(
                    task["upload_url"],
                    content=iter_chunks(body),
                    headers={**ue, "Content-Length": str(len(body)), "Fl5g-Num-Samples": "1000"},
                )
                ups.append(time.perf_counter() - t0)
                assert r.status_code == 200, r.text
                sizes["upload_bytes"] = len(body)
            return {"upload_s": ups, "download_s": downs, **sizes}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def gbps(nbytes: int, seconds: list[float]) -> float:
    return nbytes * 8 / statistics.median(seconds) / 1e9


def main() -> None:
    args = parser("transfer", __doc__).parse_args()
    reps = 2 if args.quick else 4
    with tempfile.TemporaryDirectory(prefix="fl5g-bench-") as tmp:
        af = through_af(reps, Path(tmp))
    tcp = raw_tcp(PAYLOAD, reps + 1)
    tcp_gbps = gbps(PAYLOAD, tcp)
    up = gbps(af["upload_bytes"], af["upload_s"])
    down = gbps(af["download_bytes"], af["download_s"])
    rows = [
        ["raw loopback TCP", PAYLOAD, statistics.median(tcp), tcp_gbps, 1.0],
        [
            "AF upload (int8 update, incl. aggregation)",
            af["upload_bytes"],
            statistics.median(af["upload_s"]),
            up,
            up / tcp_gbps,
        ],
        [
            "AF download (int8 model)",
            af["download_bytes"],
            statistics.median(af["download_s"]),
            down,
            down / tcp_gbps,
        ],
    ]
    console.print(
        table(
            "138,365,992-parameter payload at 8 bits (median)",
            ["path", "bytes", "seconds", "Gbps", "ratio to TCP"],
            rows,
        )
    )
    save(
        "transfer",
        {
            "reps": reps,
            "raw_tcp_s": tcp,
            "raw_tcp_gbps": tcp_gbps,
            "af": af,
            "af_upload_gbps": up,
            "af_download_gbps": down,
            "upload_ratio": up / tcp_gbps,
            "download_ratio": down / tcp_gbps,
        },
    )


if __name__ == "__main__":
    main()
