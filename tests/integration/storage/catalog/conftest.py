"""The account and the video most catalog tests start from."""

from __future__ import annotations

import pytest

from storage.catalog import Catalog, Role, User, Video


@pytest.fixture
def creator(catalog: Catalog) -> User:
    return catalog.create_user("creator@example.com", "argon2-hash", role=Role.CREATOR)


@pytest.fixture
def video(catalog: Catalog, creator: User) -> Video:
    return catalog.create_video(creator.id, "Big Buck Bunny", description="A rabbit's day")
