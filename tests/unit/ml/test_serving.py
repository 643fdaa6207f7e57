"""The model server: loads the promoted version, swaps on promotion, survives bad versions."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from ml.interactions import build_matrix
from ml.models import PopularityRecommender
from ml.serving import ModelServer
from tests.unit.ml.test_models import cluster_rows


class Published:
    """Model versions saved in directories, and a pointer: the object store's layout."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.pointer: str | None = None
        self.fetches = 0

    def add(self, version: str, model: PopularityRecommender) -> None:
        model.save(self.root / version)

    def fetch(self, version: str, directory: Path) -> None:
        self.fetches += 1
        shutil.copytree(self.root / version, directory, dirs_exist_ok=True)


def popularity(half_life: float | None = None) -> PopularityRecommender:
    return PopularityRecommender(half_life).fit(build_matrix(cluster_rows()))


@pytest.fixture
def published(tmp_path: Path) -> Published:
    store = Published(tmp_path)
    store.add("v1", popularity())
    store.add("v2", popularity(1.0))
    return store


def test_nothing_is_served_before_a_promotion(published: Published) -> None:
    server = ModelServer(lambda: published.pointer, published.fetch)
    assert server.refresh() is False
    assert server.current is None and server.get("v1") is None


def test_switches_on_promotion_and_keeps_the_previous_model(published: Published) -> None:
    server = ModelServer(lambda: published.pointer, published.fetch)
    published.pointer = "v1"
    assert server.refresh() is True
    first = server.current
    assert first is not None and first.version == "v1"
    assert server.refresh() is False and published.fetches == 1  # unchanged: no download
    published.pointer = "v2"
    assert server.refresh() is True
    current = server.current
    assert current is not None and current.version == "v2"
    assert server.get("v1") is first  # a feed started on v1 keeps paging on v1
    assert server.get("gone") is current


def test_a_broken_version_leaves_the_old_model_serving(published: Published) -> None:
    server = ModelServer(lambda: published.pointer, published.fetch)
    published.pointer = "v1"
    server.refresh()
    (published.root / "v3").mkdir()  # promoted, but holds no model
    published.pointer = "v3"
    assert server.refresh() is False
    current = server.current
    assert current is not None and current.version == "v1"


def test_background_reload_picks_up_a_promotion(published: Published) -> None:
    switched = threading.Event()
    versions: list[str | None] = []

    def promoted() -> str | None:
        versions.append(published.pointer)
        if published.pointer == "v2":
            switched.set()
        return published.pointer

    server = ModelServer(promoted, published.fetch)
    published.pointer = "v1"
    server.start(interval_s=0.05)
    try:
        published.pointer = "v2"
        assert switched.wait(10)
        server.stop()
        current = server.current
        assert current is not None and current.version == "v2"
    finally:
        server.stop()
