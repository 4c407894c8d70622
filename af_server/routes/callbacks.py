"""Where the NEF posts its notifications (monitoring events, QoS, analytics, member selection).

The NEF POSTs to exactly the URI the AF gave it at subscription time (``notificationDestination`` /
``notifUri``) and sends no credential of its own, so the credential travels in that URI:

    {AF public URL}/af/v1/callbacks/nef/{kind}/{correlation}/{signature}

``signature`` is HMAC-SHA256 over ``kind`` and ``correlation`` (base64url, 43 characters) under the
AF's callback key: 32 random bytes the first AF replica creates in Redis and every replica reads, so
a URI handed out before a restart, or by another replica, still verifies. A notification to any
other URI is refused with 401 before its body is looked at (the NEF counts it ``rejected`` and does
not retry). Build URIs with :func:`notification_uri`; the comparison is constant-time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
from typing import Annotated, Any, Literal, Protocol

from fastapi import APIRouter, Body, Depends, Path, Request, Response

from af_server.deps import get_coordinator, get_store
from af_server.store import Store
from flcore.problem import PROBLEM_RESPONSES, ProblemError

PREFIX = "/af/v1/callbacks/nef"
Kind = Literal["monitoring", "qos", "analytics", "musa"]
CORRELATION_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
_CORRELATION = re.compile(r"[A-Za-z0-9_-]{1,64}")
SIGNATURE_PATTERN = r"^[A-Za-z0-9_-]{43}$"

router = APIRouter(prefix=PREFIX, tags=["nef-callbacks"], responses=PROBLEM_RESPONSES)
log = logging.getLogger("af_server.callbacks")


class NotificationHandler(Protocol):
    async def __call__(self, kind: str, correlation: str, body: Any) -> None: ...


def sign(key: str, kind: str, correlation: str) -> str:
    mac = hmac.new(key.encode(), f"nef-callback\n{kind}\n{correlation}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


async def notification_uri(store: Store, base_url: str, kind: Kind, correlation: str) -> str:
    """The URI to give the NEF for notifications of ``kind`` about ``correlation`` (a job, a
    subscription, a notifId: 1-64 of ``[A-Za-z0-9_-]``)."""
    if kind not in ("monitoring", "qos", "analytics", "musa"):
        raise ValueError(f"unknown notification kind {kind!r}")
    if not _CORRELATION.fullmatch(correlation):
        raise ValueError(f"correlation {correlation!r} must be 1-64 of [A-Za-z0-9_-]")
    key = await store.callback_key()
    return f"{base_url.rstrip('/')}{PREFIX}/{kind}/{correlation}/{sign(key, kind, correlation)}"


async def verified_callback(
    request: Request,
    kind: Kind,
    correlation: Annotated[str, Path(pattern=CORRELATION_PATTERN)],
    signature: Annotated[str, Path(pattern=SIGNATURE_PATTERN)],
) -> tuple[str, str]:
    """The notification's kind and correlation, once its URI's signature verifies."""
    key = await get_store(request).callback_key()
    if not hmac.compare_digest(sign(key, kind, correlation).encode(), signature.encode()):
        raise ProblemError(
            401,
            "this callback URI was not issued by this AF",
            cause="UNAUTHORIZED",
            invalid=[("signature", "does not verify")],
        )
    return kind, correlation


@router.post(
    "/{kind}/{correlation}/{signature}",
    status_code=204,
    responses={204: {"description": "notification taken"}},
)
async def nef_notification(
    request: Request,
    verified: Annotated[tuple[str, str], Depends(verified_callback)],
    body: Any = Body(...),  # noqa: B008
) -> Response:
    """A NEF notification, at the URI the AF gave at subscription time."""
    kind, correlation = verified
    handler: NotificationHandler | None = getattr(request.app.state, "on_nef_notification", None)
    nef = get_coordinator(request).nef
    if handler is not None:
        await handler(kind, correlation, body)
    elif nef is not None:
        nef.handle_notification(body)
    else:
        log.info("NEF %s notification for %s: %s", kind, correlation, str(body)[:200])
    return Response(status_code=204)
