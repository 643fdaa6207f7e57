"""Prometheus metrics of the API, served at `/metrics`.

`reelflow api` runs the workers with `PROMETHEUS_MULTIPROC_DIR` set to a directory of its run:
each worker writes its counts to files there and a scrape of any worker reads them all, so
Prometheus sees the sum over the workers whichever one answers. Without that variable (the app
in a test client, one process) the process's own registry is served.

Route labels are the matched route's template (`/api/v1/videos/{video_id}`), `unmatched` when
no route matched: raw paths would make a series per video id, token and probe for missing files.
"""

from __future__ import annotations

import os
from typing import Any
from weakref import WeakKeyDictionary

from fastapi import Response
from fastapi.routing import iter_route_contexts
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.types import Scope

METRICS_PATH = "/metrics"
UNMATCHED = "unmatched"
# Methods outside these are one label value: a client may send any token as a method.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

HTTP_REQUESTS = Counter(
    "reelflow_http_requests",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
)
HTTP_REQUEST_DURATION = Histogram(
    "reelflow_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer, by method and route template.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
CACHE_REQUESTS = Counter(
    "reelflow_cache_requests",
    "Reads of the shared Redis cache, by cache (what it holds) and result (hit or miss; every "
    "read is a miss while Redis is unavailable or not configured).",
    ["cache", "result"],
)
RATE_LIMIT_REFUSALS = Counter(
    "reelflow_rate_limit_refusals",
    "Requests refused with 429 for being over a rate limit, by the limited route's policy.",
    ["route"],
)


# Per app, the template of each route (by the route's id) with the prefixes it was included
# under: a route of an included router knows only its own part (`/{video_id}`). Read on the
# first request, once the routes no longer change. `path_format` is the template without its
# convertors (`{video_id}`, not `{video_id:uuid}`).
_TEMPLATES: WeakKeyDictionary[Any, dict[int, str]] = WeakKeyDictionary()


def route_template(scope: Scope) -> str:
    """The template of the route that answered `scope` (after the app ran), or `unmatched`."""
    route, app = scope.get("route"), scope.get("app")
    if route is None or app is None:
        return UNMATCHED
    templates = _TEMPLATES.get(app)
    if templates is None:
        templates = _TEMPLATES[app] = {
            id(context.original_route): path
            for context in iter_route_contexts(app.routes)
            if (path := context.path_format) is not None
        }
    template = templates.get(id(route), getattr(route, "path_format", None))
    return template if isinstance(template, str) else UNMATCHED


def method_label(method: str) -> str:
    return method if method in _METHODS else "other"


def count_cache_read(cache: str, *, hit: bool) -> None:
    CACHE_REQUESTS.labels(cache=cache, result="hit" if hit else "miss").inc()


def count_rate_limit_refusal(route: str) -> None:
    RATE_LIMIT_REFUSALS.labels(route=route).inc()


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """Count a request by method, route template and status, and time it.

    Scrapes of `/metrics` are counted (their route label sets them apart) but not timed: a
    scrape every few seconds would otherwise weigh on the latency buckets that alerts read for
    the traffic viewers make.
    """
    method = method_label(method)
    HTTP_REQUESTS.labels(method=method, route=route, status=str(status)).inc()
    if route != METRICS_PATH:
        HTTP_REQUEST_DURATION.labels(method=method, route=route).observe(seconds)


def exposition() -> bytes:
    """The metrics in Prometheus's text format: summed over every worker of the run when
    `PROMETHEUS_MULTIPROC_DIR` is set, else this process's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def metrics() -> Response:
    """Prometheus metrics of every worker of this API."""
    return Response(exposition(), media_type=CONTENT_TYPE_LATEST)
