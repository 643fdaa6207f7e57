"""Rate limits shared by every API worker: counted in Redis, per client address and per account.

Each limited route names its policy; a request over any of its limits gets 429 with
`Retry-After`. While Redis cannot be reached a policy fails open (the request goes on) or
closed (503), as `POLICIES` says and docs/api.md explains: registration fails closed because
each one costs a password hash; the others fail open, since refusing sign-ins, watch reports or
licences would stop playback, and sign-in still has its failure throttle in PostgreSQL.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from typing import Literal

from api.cache import SharedCache
from api.errors import ApiError, error
from api.metrics import count_rate_limit_refusal
from reelflow.settings import Settings, SettingsError

Scope = Literal["address", "account"]
SCOPES: tuple[Scope, ...] = ("address", "account")

RATE_LIMITED = error("Too many requests; retry after `Retry-After` seconds")
LIMITS_UNAVAILABLE = error("The rate limiter cannot be reached; retry after `Retry-After` seconds")

_LIMIT = re.compile(r"(\d+)/(\d+(?:\.\d+)?)")


@dataclass(frozen=True)
class Limit:
    requests: int
    window_s: float

    @classmethod
    def parse(cls, text: str) -> Limit:
        """`"30/60"`: 30 requests per 60 seconds."""
        match = _LIMIT.fullmatch(text.strip())
        if match is None or int(match[1]) < 1 or float(match[2]) <= 0:
            raise ValueError(f"{text!r} is not REQUESTS/SECONDS, e.g. 30/60")
        return cls(int(match[1]), float(match[2]))


@dataclass(frozen=True)
class Policy:
    limits: dict[Scope, Limit]
    fail_closed: bool = False


POLICIES: dict[str, Policy] = {
    "login": Policy({"address": Limit(30, 60), "account": Limit(10, 60)}),
    "register": Policy({"address": Limit(10, 600)}, fail_closed=True),
    "password_reset": Policy({"address": Limit(10, 600)}, fail_closed=True),
    "upload": Policy({"address": Limit(120, 3600), "account": Limit(30, 3600)}),
    # A player reports every few seconds; an address may be a household or a campus.
    "watch": Policy({"address": Limit(6000, 60), "account": Limit(600, 60)}),
    "licence": Policy({"address": Limit(1200, 60), "account": Limit(120, 60)}),
    # Quality reports: a batch every ~10 s per player, plus one on leaving the page.
    "playback": Policy({"address": Limit(6000, 60), "account": Limit(600, 60)}),
    # Ratings and playlist edits: a viewer clicking around a list, not a script rating a catalogue.
    "community": Policy({"address": Limit(1200, 60), "account": Limit(120, 60)}),
}


def policies(settings: Settings) -> dict[str, Policy]:
    """`POLICIES` with the deployment's overrides (`REELFLOW_RATE_LIMITS`)."""
    limits = {route: dict(policy.limits) for route, policy in POLICIES.items()}
    for name, text in settings.rate_limits.items():
        route, _, scope = name.partition(":")
        if route not in limits or scope not in SCOPES:
            raise SettingsError(
                f"REELFLOW_RATE_LIMITS: {name!r} is not ROUTE:SCOPE with ROUTE one of "
                f"{', '.join(POLICIES)} and SCOPE one of {', '.join(SCOPES)}"
            )
        try:
            limits[route][scope] = Limit.parse(text)
        except ValueError as exc:
            raise SettingsError(f"REELFLOW_RATE_LIMITS[{name!r}]: {exc}") from None
    return {route: Policy(limits[route], policy.fail_closed) for route, policy in POLICIES.items()}


class RateLimiter:
    def __init__(self, cache: SharedCache, settings: Settings) -> None:
        self._cache = cache
        self._policies = policies(settings)
        self._cooldown_s = settings.redis_cooldown_s

    def check(self, route: str, *, address: str, account: str | None = None) -> None:
        """Count this request of `route`; raise 429 when the address or account is over a limit
        (503 when Redis is down and the route fails closed)."""
        policy = self._policies[route]
        subjects: dict[Scope, str | None] = {"address": address, "account": account}
        limits = {
            self._cache.key("rate", route, scope, _digest(subject)): limit
            for scope, limit in policy.limits.items()
            if (subject := subjects[scope]) is not None
        }
        counted = self._cache.hit({key: limit.window_s for key, limit in limits.items()})
        if counted is None:
            if policy.fail_closed:
                raise ApiError(
                    503,
                    "rate_limit_unavailable",
                    "this is paused for a moment; try again shortly",
                    headers={"Retry-After": str(math.ceil(self._cooldown_s))},
                )
            return
        waits = [
            left_s
            for limit, (hits, left_s) in zip(limits.values(), counted, strict=True)
            if hits > limit.requests
        ]
        if waits:
            count_rate_limit_refusal(route)
            wait_s = max(1, math.ceil(max(waits)))
            raise ApiError(
                429,
                "rate_limited",
                f"too many requests; retry in {wait_s} s",
                headers={"Retry-After": str(wait_s)},
            )


def _digest(subject: str) -> str:
    # Addresses and emails stay out of Redis: the key names a hash of them.
    return hashlib.sha256(subject.strip().lower().encode()).hexdigest()[:32]
