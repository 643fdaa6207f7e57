"""Dependencies of the routes, as `Annotated` types.

Those that only hand out what the app holds are `async`: FastAPI runs a plain `def` dependency
in its thread pool, a hop that costs more than the dependency itself.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, TypeVar
from uuid import UUID

import jwt
from cassandra import DriverException
from cassandra.cluster import NoHostAvailable
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.breaker import CircuitBreaker
from api.errors import ApiError
from api.limits import RateLimiter
from api.logs import record_user
from api.mailer import Mailer
from api.media_runs import MediaRuns
from api.public_reads import PublicReads
from api.recommendations import Recommendations
from api.replica import LaggingReads
from api.security import decode_access_token
from api.sessions import SessionCache
from reelflow import connect
from reelflow.settings import Settings
from storage.catalog import Catalog, InvalidState, NotFound, Role, User
from storage.history import History
from storage.keyspace import SchemaOutOfDate
from storage.objects import ObjectStore

log = logging.getLogger(__name__)
_bearer = HTTPBearer(auto_error=False)
T = TypeVar("T")


def _app_state(name: str, kind: type[T]) -> Callable[[Request], Awaitable[T]]:
    """A dependency handing out what the app holds as `app.state.<name>`."""

    async def held(request: Request) -> T:
        value: T = getattr(request.app.state, name)
        return value

    held.__name__ = f"get_{name}"
    return held


HISTORY_UNAVAILABLE = "history_unavailable"


def history_unavailable(retry_after_s: int | None = None) -> ApiError:
    return ApiError(
        503,
        HISTORY_UNAVAILABLE,
        "viewing history is unavailable right now",
        headers=None if retry_after_s is None else {"Retry-After": str(retry_after_s)},
    )


@contextmanager
def history_errors() -> Iterator[None]:
    """Cassandra failing in the middle of a request is the same 503 as Cassandra down."""
    try:
        yield
    except (NoHostAvailable, DriverException) as exc:
        raise history_unavailable() from exc


class HistoryProvider:
    """Cassandra connected on first use and re-tried after a failure, so the API starts and
    keeps serving everything else while Cassandra is down; behind a circuit breaker, so that
    while it is down requests that need it fail at once."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._history: History | None = None
        self._lock = threading.Lock()
        self.breaker = CircuitBreaker(
            failures=settings.breaker_failures, cooldown_s=settings.breaker_cooldown_s
        )

    def start(self) -> None:
        """Connect now if Cassandra answers: a keyspace older than this release stops the API
        from starting (`SchemaOutOfDate`, naming `reelflow migrate`); Cassandra down is left
        to the first request that needs it."""
        try:
            history = connect.history(self._settings)
        except SchemaOutOfDate:
            raise
        except Exception as exc:
            log.warning("Cassandra not reachable at start (%s); connecting on first use", exc)
            return
        with self._lock:
            self._history = history

    def get(self) -> History:
        """The connected history; 503 (with `Retry-After` while the breaker is open) when
        Cassandra cannot be reached."""
        if not self.breaker.allow():
            raise history_unavailable(self.breaker.retry_after_s())
        with self._lock:
            if self._history is None:
                try:
                    self._history = connect.history(self._settings)
                except Exception as exc:
                    self.breaker.failed(exc)
                    raise history_unavailable() from exc
            return self._history

    def close(self) -> None:
        with self._lock:
            if self._history is not None:
                self._history.close()
                self._history = None


def get_history(request: Request) -> Iterator[History]:
    """The history for one request; what the request met of Cassandra (`history_errors`)
    counts for the breaker."""
    provider: HistoryProvider = request.app.state.history
    history = provider.get()
    try:
        yield history
    except ApiError as exc:
        if exc.code == HISTORY_UNAVAILABLE:
            provider.breaker.failed(exc.__cause__ or exc.message)
        raise
    provider.breaker.succeeded()


SettingsDep = Annotated[Settings, Depends(_app_state("settings", Settings))]
CatalogDep = Annotated[Catalog, Depends(_app_state("catalog", Catalog))]
StoreDep = Annotated[ObjectStore, Depends(_app_state("store", ObjectStore))]
HistoryDep = Annotated[History, Depends(get_history)]
RecommendationsDep = Annotated[
    Recommendations, Depends(_app_state("recommendations", Recommendations))
]
MediaRunsDep = Annotated[MediaRuns, Depends(_app_state("media_runs", MediaRuns))]
MailerDep = Annotated[Mailer, Depends(_app_state("mailer", Mailer))]
LaggingReadsDep = Annotated[LaggingReads, Depends(_app_state("lagging", LaggingReads))]


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


LimiterDep = Annotated[RateLimiter, Depends(_app_state("limiter", RateLimiter))]
PublicReadsDep = Annotated[PublicReads, Depends(_app_state("public_reads", PublicReads))]


def get_optional_user(
    request: Request,
    catalog: CatalogDep,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User | None:
    """The caller when a valid bearer token is sent, None when none is sent."""
    if credentials is None:
        return None
    sessions: SessionCache = request.app.state.sessions
    try:
        claims = decode_access_token(
            credentials.credentials, settings.jwt_secret.get_secret_value()
        )
        user_id, session_id = UUID(claims["sub"]), UUID(claims["sid"])
        user = sessions.user(
            user_id, session_id, lambda: catalog.get_session_user(user_id, session_id)
        )
    except (jwt.InvalidTokenError, ValueError, NotFound) as exc:
        raise _unauthorized("the access token is invalid or expired") from exc
    except InvalidState as exc:
        raise _unauthorized("the session has ended; sign in again") from exc
    if user.deleted_at is not None:
        raise _unauthorized("the account no longer exists")
    record_user(user.id)
    return user


OptionalUser = Annotated[User | None, Depends(get_optional_user)]


async def get_current_user(user: OptionalUser) -> User:
    if user is None:
        raise _unauthorized("sign in to do this")
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


async def get_admin_user(user: CurrentUser) -> User:
    if user.role != Role.ADMIN:
        raise ApiError(403, "forbidden", "administrators only")
    return user


AdminUser = Annotated[User, Depends(get_admin_user)]
