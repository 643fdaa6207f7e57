"""Requests are counted under their route's full template, few label values whatever the
request, and `/metrics` answers in Prometheus's text format."""

from __future__ import annotations

from collections.abc import Iterator
from uuid import UUID, uuid4

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from api.main import create_app
from api.metrics import METRICS_PATH, metrics
from api.middleware import RequestLog
from reelflow.settings import Settings

router = APIRouter(prefix="/things", tags=["things"])


@router.get("/{thing_id}")
def thing(thing_id: UUID) -> dict[str, str]:
    return {"id": str(thing_id)}


@pytest.fixture
def client() -> Iterator[TestClient]:
    app = FastAPI()
    app.include_router(router, prefix="/api/v9")
    app.add_api_route(METRICS_PATH, metrics, include_in_schema=False)
    app.add_middleware(RequestLog)
    with TestClient(app) as test_client:
        yield test_client


def requests(method: str, route: str, status: int) -> float:
    labels = {"method": method, "route": route, "status": str(status)}
    return REGISTRY.get_sample_value("reelflow_http_requests_total", labels) or 0.0


def timed(method: str, route: str) -> float:
    labels = {"method": method, "route": route}
    return REGISTRY.get_sample_value("reelflow_http_request_duration_seconds_count", labels) or 0.0


ROUTE = "/api/v9/things/{thing_id}"


def test_a_request_is_counted_and_timed_under_its_full_template(client: TestClient) -> None:
    before = requests("GET", ROUTE, 200), timed("GET", ROUTE)
    assert client.get(f"/api/v9/things/{uuid4()}").status_code == 200
    assert (requests("GET", ROUTE, 200), timed("GET", ROUTE)) == (before[0] + 1, before[1] + 1)


@pytest.mark.parametrize(
    ("method", "path", "counted"),
    [
        ("GET", "/api/v9/things/not-a-uuid", ("GET", ROUTE, 422)),
        ("DELETE", f"/api/v9/things/{uuid4()}", ("DELETE", ROUTE, 405)),
        ("BREW", f"/api/v9/things/{uuid4()}", ("other", ROUTE, 405)),
        ("GET", "/elsewhere", ("GET", "unmatched", 404)),
    ],
)
def test_labels_take_few_values(
    client: TestClient, method: str, path: str, counted: tuple[str, str, int]
) -> None:
    before = requests(*counted)
    assert client.request(method, path).status_code == counted[2]
    assert requests(*counted) == before + 1


def test_scrapes_are_counted_not_timed(client: TestClient) -> None:
    before = requests("GET", METRICS_PATH, 200)
    response = client.get(METRICS_PATH)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.headers["X-Request-ID"]
    names = {family.name for family in text_string_to_metric_families(response.text)}
    assert {"reelflow_http_requests", "reelflow_http_request_duration_seconds"} <= names
    assert requests("GET", METRICS_PATH, 200) == before + 1
    assert timed("GET", METRICS_PATH) == 0


def test_the_scrape_route_is_served_but_not_documented() -> None:
    app = create_app(Settings())
    assert METRICS_PATH in {getattr(route, "path", None) for route in app.routes}
    assert METRICS_PATH not in app.openapi()["paths"]
