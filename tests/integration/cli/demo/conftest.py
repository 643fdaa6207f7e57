"""The demo's tests share a local object store and two tiny clips (seconds to process each)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.demo.seeding import ART_LOVERS, DemoClip
from storage.catalog import Visibility
from storage.objects import LocalObjectStore

TINY_PUBLIC = DemoClip(
    "Tiny Test Card", "A public test clip.", ("test",), width=176, height=144, duration_s=2.0
)
TINY_PREMIUM = DemoClip(
    "Tiny Colour Bars",
    "A premium test clip.",
    ("test",),
    visibility=Visibility.PREMIUM,
    pattern="smptehdbars",
    width=176,
    height=144,
    duration_s=2.0,
    audience=ART_LOVERS,
)


@pytest.fixture
def tiny_clips() -> list[DemoClip]:
    return [TINY_PUBLIC, TINY_PREMIUM]


@pytest.fixture
def store(tmp_path: Path) -> LocalObjectStore:
    return LocalObjectStore(tmp_path / "objects", "http://127.0.0.1:8000/cdn", b"test-secret")
