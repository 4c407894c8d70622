"""In-memory subscription store shared by the northbound APIs.

A subscription is the resource as the AF sees it (a JSON dict with its ``self`` link) plus
the NEF's private runtime state (grants, last reports, counters) that never leaves the process.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from flcore.problem import ProblemError


@dataclass
class Subscription:
    """One subscription resource of one API, owned by one AF."""

    api: str
    owner: str
    sub_id: str
    url: str
    resource: dict[str, Any]
    created: float
    state: Any = None
    reports: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class SubscriptionStore:
    """Subscriptions keyed by (api, owner, id); ids are random, unguessable and never reused."""

    def __init__(self, max_subscriptions: int = 10_000) -> None:
        self._subs: dict[tuple[str, str, str], Subscription] = {}
        self._max = max_subscriptions
        # The background watcher runs in a worker thread while handlers run on the event loop.
        self._lock = threading.Lock()

    def new_id(self) -> str:
        return secrets.token_hex(8)

    def add(self, sub: Subscription) -> Subscription:
        with self._lock:
            if len(self._subs) >= self._max:
                raise ProblemError(
                    429, f"the NEF holds {self._max} subscriptions already", cause="TOO_MANY_SUBSCRIPTIONS"
                )
            self._subs[(sub.api, sub.owner, sub.sub_id)] = sub
        return sub

    def get(self, api: str, owner: str, sub_id: str) -> Subscription:
        sub = self._subs.get((api, owner, sub_id))
        if sub is None:
            raise ProblemError(
                404,
                f"no {api} subscription {sub_id!r} for {owner!r}",
                cause="SUBSCRIPTION_NOT_FOUND",
                invalid=[("subscriptionId", "unknown subscription")],
            )
        return sub

    def remove(self, api: str, owner: str, sub_id: str) -> Subscription:
        with self._lock:
            sub = self.get(api, owner, sub_id)
            del self._subs[(api, owner, sub_id)]
        return sub

    def discard(self, sub: Subscription) -> None:
        with self._lock:
            if self._subs.get((sub.api, sub.owner, sub.sub_id)) is sub:
                del self._subs[(sub.api, sub.owner, sub.sub_id)]

    def alive(self, sub: Subscription) -> bool:
        return self._subs.get((sub.api, sub.owner, sub.sub_id)) is sub

    def list(self, api: str, owner: str | None = None) -> list[Subscription]:
        with self._lock:
            return [s for s in self._subs.values() if s.api == api and (owner is None or s.owner == owner)]

    def __iter__(self) -> Iterator[Subscription]:
        with self._lock:
            return iter(list(self._subs.values()))

    def __len__(self) -> int:
        return len(self._subs)
