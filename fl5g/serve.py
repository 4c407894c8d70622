"""Run one service under uvicorn (httptools + uvloop): the container entry points."""

from __future__ import annotations

import logging
from typing import Literal

import uvicorn

Service = Literal["af", "nef", "ue"]
DEFAULT_PORTS: dict[str, int] = {"af": 8080, "nef": 8081, "ue": 8082}
FACTORIES: dict[str, str] = {
    "af": "af_server.app:create_app",
    "nef": "nef_mock.app:create_app",
    "ue": "ue_agent.fleet:create_app",
}


def serve(service: Service, host: str, port: int | None, log_level: str = "info") -> None:
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    uvicorn.run(
        FACTORIES[service],
        factory=True,
        host=host,
        port=port or DEFAULT_PORTS[service],
        http="httptools",
        loop="uvloop",
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=5,
        # longer than httpx's 5 s keep-alive expiry: the client drops an idle connection before the
        # server does, so a request never meets a connection the server is closing (a ReadError)
        timeout_keep_alive=30,
    )
