"""`/metrics` of a `reelflow api` with two workers: requests counted and timed by route
template and status, shared-cache reads and rate-limit refusals counted, every worker's counts
summed in one scrape, and the series read by a real Prometheus server."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from uuid import uuid4

import httpx
import psutil
import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from devstack.processes import Server
from reelflow.settings import Settings
from storage.catalog import Catalog
from tests.fixtures.api_module import bearer, isolated_api_settings, new_user
from tests.fixtures.load import wait_until
from tests.fixtures.processes import api_server
from tests.fixtures.prometheus import prometheus_server, query

REQUESTS = "reelflow_http_requests_total"
DURATION_COUNT = "reelflow_http_request_duration_seconds_count"
CACHE = "reelflow_cache_requests_total"
REFUSALS = "reelflow_rate_limit_refusals_total"
ME = "/api/v1/users/me"
PASSWORD_RESET = "/api/v1/auth/password-reset"
COUNTED_WITHIN_S = 60.0

# (sample name, labels) -> value
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@dataclass(frozen=True)
class Api:
    settings: Settings
    catalog: Catalog
    server: Server
    url: str


@pytest.fixture(scope="module")
def api(
    dev_stack: Settings,
    migrated_template: str,
    api_keyspace: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Api]:
    directory = tmp_path_factory.mktemp("api-metrics")
    with isolated_api_settings(dev_stack, migrated_template, api_keyspace, directory) as base:
        settings = base.model_copy(
            update={
                # A second reset request from the address is refused.
                "rate_limits": {"password_reset:address": "1/600"},
                # Long enough that a session read twice in a test is cached for the second.
                "session_cache_ttl_s": 3600.0,
            }
        )
        server, url = api_server(settings, directory, "--workers", "2")
        with server, Catalog(settings.postgres_dsn, max_size=2) as catalog:
            yield Api(settings, catalog, server, url)


def samples_of(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(url: str) -> Samples:
    response = httpx.get(f"{url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return samples_of(response.text)


def total(samples: Samples, name: str, exclude_route: str = "/metrics") -> float:
    return sum(
        value
        for (sample, labels), value in samples.items()
        if sample == name and ("route", exclude_route) not in labels
    )


def settled_scrape(url: str, before: Samples, answered: int) -> Samples:
    """A scrape once every one of `answered` requests (not scrapes) since `before` is counted
    and timed: a worker counts a request just after its answer is sent."""
    after: Samples = {}

    def counted() -> bool:
        nonlocal after
        after = scrape(url)
        return all(
            total(after, name) - total(before, name) >= answered
            for name in (REQUESTS, DURATION_COUNT)
        )

    wait_until(counted, COUNTED_WITHIN_S, f"{answered} requests counted")
    return after


def delta(before: Samples, after: Samples) -> Callable[..., float]:
    def of(name: str, **labels: str) -> float:
        key = (name, frozenset(labels.items()))
        return after.get(key, 0.0) - before.get(key, 0.0)

    return of


def test_requests_are_counted_by_route_template_and_status(api: Api) -> None:
    user = new_user(api.catalog)
    headers = bearer(api.catalog, api.settings, user)
    missing_video = uuid4()
    stray_path = f"/no-such-page/{secrets.token_hex(8)}"
    before = scrape(api.url)

    statuses = [
        httpx.get(f"{api.url}/healthz").status_code,
        httpx.get(f"{api.url}{stray_path}").status_code,
        httpx.get(f"{api.url}{ME}").status_code,
        httpx.get(f"{api.url}/api/v1/videos/{missing_video}").status_code,
        # The session check of the first is cached in Redis for the second.
        httpx.get(f"{api.url}{ME}", headers=headers).status_code,
        httpx.get(f"{api.url}{ME}", headers=headers).status_code,
        httpx.post(f"{api.url}{PASSWORD_RESET}", json={"email": "a@example.com"}).status_code,
        httpx.post(f"{api.url}{PASSWORD_RESET}", json={"email": "a@example.com"}).status_code,
    ]
    assert statuses == [200, 404, 401, 404, 200, 200, 202, 429]
    after = settled_scrape(api.url, before, len(statuses))
    changed = delta(before, after)

    assert changed(REQUESTS, method="GET", route="/healthz", status="200") == 1
    assert changed(REQUESTS, method="GET", route="unmatched", status="404") == 1
    assert changed(REQUESTS, method="GET", route=ME, status="401") == 1
    assert changed(REQUESTS, method="GET", route=ME, status="200") == 2
    video_route = "/api/v1/videos/{video_id}"
    assert changed(REQUESTS, method="GET", route=video_route, status="404") == 1
    assert changed(REQUESTS, method="POST", route=PASSWORD_RESET, status="202") == 1
    assert changed(REQUESTS, method="POST", route=PASSWORD_RESET, status="429") == 1
    assert total(after, REQUESTS) - total(before, REQUESTS) == len(statuses)
    # Raw paths never become label values.
    labels = {value for _, pairs in after for _, value in pairs}
    assert not any(stray_path in value or str(missing_video) in value for value in labels)

    assert changed(CACHE, cache="sessions", result="miss") == 1
    assert changed(CACHE, cache="sessions", result="hit") == 1
    assert changed(REFUSALS, route="password_reset") == 1

    assert changed(DURATION_COUNT, method="GET", route=ME) == 3
    bucket = "reelflow_http_request_duration_seconds_bucket"
    assert changed(bucket, method="GET", route="/healthz", le="+Inf") == 1
    assert changed(bucket, method="GET", route="/healthz", le="10.0") == 1


def test_scrapes_are_counted_but_not_timed(api: Api) -> None:
    key = (REQUESTS, frozenset({"method": "GET", "route": "/metrics", "status": "200"}.items()))
    first = scrape(api.url)
    after: Samples = {}

    def counted() -> bool:
        nonlocal after
        after = scrape(api.url)
        return after.get(key, 0.0) > first.get(key, 0.0)

    wait_until(counted, COUNTED_WITHIN_S, "a scrape counted")
    assert {name for name, labels in after if ("route", "/metrics") in labels} == {REQUESTS}


def worker_counts(directory: Path, pid: int) -> float:
    """The /healthz answers one worker counted, read from its own file."""
    files = [str(path) for path in directory.glob(f"counter_{pid}.db")]
    return sum(
        sample.value
        for metric in MultiProcessCollector.merge(files, accumulate=True)
        for sample in metric.samples
        if sample.name == REQUESTS and sample.labels.get("route") == "/healthz"
    )


def test_a_scrape_sums_the_counts_of_every_worker(api: Api) -> None:
    workers = [
        child
        for child in psutil.Process(api.server.pid).children(recursive=True)
        if "multiprocessing.resource_tracker" not in " ".join(child.cmdline())
    ]
    assert len(workers) == 2
    directory = Path(workers[0].environ()["PROMETHEUS_MULTIPROC_DIR"])
    key = (REQUESTS, frozenset({"method": "GET", "route": "/healthz", "status": "200"}.items()))
    first = {worker.pid: worker_counts(directory, worker.pid) for worker in workers}
    before = scrape(api.url)
    sent = 0

    def send(_: int) -> int:
        # A connection per request: the workers take turns accepting them.
        return httpx.get(f"{api.url}/healthz").status_code

    def both_served() -> bool:
        nonlocal sent
        with ThreadPoolExecutor(4) as pool:
            assert set(pool.map(send, range(8))) == {200}
        sent += 8
        return all(worker_counts(directory, pid) > first[pid] for pid in first)

    wait_until(both_served, COUNTED_WITHIN_S, "both workers answering")
    after = settled_scrape(api.url, before, sent)
    served = {pid: worker_counts(directory, pid) - first[pid] for pid in first}
    assert after[key] - before.get(key, 0.0) == sent == sum(served.values())


def test_prometheus_scrapes_the_series(api: Api, tmp_path: Path) -> None:
    assert httpx.get(f"{api.url}/healthz").status_code == 200
    target = api.url.removeprefix("http://")
    server, url = prometheus_server(tmp_path, "reelflow-api", [target])
    with server:
        found: list[dict[str, object]] = []

        def scraped() -> bool:
            nonlocal found
            found = query(url, f'{REQUESTS}{{route="/healthz"}}')
            return bool(found)

        wait_until(scraped, COUNTED_WITHIN_S, "Prometheus holding a series of the API")
        durations = query(url, f'{DURATION_COUNT}{{route="/healthz"}}')
    labels = [series["metric"] for series in found]
    assert {
        "__name__": REQUESTS,
        "job": "reelflow-api",
        "instance": target,
        "method": "GET",
        "route": "/healthz",
        "status": "200",
    } in labels
    assert [series["metric"]["route"] for series in durations] == ["/healthz"]
