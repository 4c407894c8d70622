"""Where the NEF posts its notifications (monitoring events, QoS, analytics, member selection)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Body, Request, Response

from flcore.problem import PROBLEM_RESPONSES

router = APIRouter(prefix="/af/v1/callbacks/nef", tags=["nef-callbacks"], responses=PROBLEM_RESPONSES)
log = logging.getLogger("af_server.callbacks")


@router.post("/{kind}", status_code=204)
async def nef_notification(kind: str, request: Request, body: Any = Body(...)) -> Response:  # noqa: B008
    handler = getattr(request.app.state, "on_nef_notification", None)
    if handler is not None:
        await handler(kind, body)
    else:
        log.info("NEF %s notification: %s", kind, str(body)[:200])
    return Response(status_code=204)
