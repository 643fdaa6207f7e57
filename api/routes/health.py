"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    dependencies: dict[str, str] = {}


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    """The process is up."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses={503: {"model": Health}})
def readyz(request: Request) -> JSONResponse:
    """PostgreSQL and Cassandra answer; says which dependency is down otherwise. Redis and the
    PostgreSQL standby are reported but do not decide: without them the API serves uncached and
    from the primary (docs/api.md)."""
    checks: dict[str, str] = {}
    try:
        request.app.state.catalog.ping()
        checks["postgres"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        checks["postgres"] = f"down: {type(exc).__name__}"
    try:
        request.app.state.history.get().ping()
        checks["cassandra"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["cassandra"] = f"down: {type(exc).__name__}"
    ready = all(value == "ok" for value in checks.values())
    checks["redis"] = request.app.state.cache.state()
    checks["postgres_replica"] = request.app.state.lagging.state()
    body = Health(status="ready" if ready else "not ready", dependencies=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)
