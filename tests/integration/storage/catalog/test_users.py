"""Accounts in the catalog against a real, freshly migrated PostgreSQL database."""

from __future__ import annotations

from uuid import uuid4

import psycopg
import pytest

from storage.catalog import (
    Catalog,
    EmailTaken,
    InvalidState,
    InvalidValue,
    NotFound,
    Role,
    User,
    UserSubscriptionStatus,
    Video,
)


def test_create_and_read_user(catalog: Catalog) -> None:
    user = catalog.create_user("Ann@Example.com", "hash", profile_data={"name": "Ann"})

    assert user.role is Role.VIEWER
    assert user.subscription_status is UserSubscriptionStatus.NONE
    assert user.profile_data == {"name": "Ann"}
    assert user.deleted_at is None
    assert catalog.get_user(user.id) == user
    assert catalog.get_user_by_email("ann@example.COM") == user
    assert "hash" not in repr(user)


def test_enums_are_stored_as_their_values(catalog: Catalog, catalog_dsn: str) -> None:
    user = catalog.create_user("admin@example.com", "hash", role=Role.ADMIN)

    with psycopg.connect(catalog_dsn) as conn:
        row = conn.execute("SELECT role FROM users WHERE id = %s", (user.id,)).fetchone()
    assert row == ("admin",)


def test_email_is_unique_regardless_of_case(catalog: Catalog) -> None:
    catalog.create_user("A@x.com", "hash")

    with pytest.raises(EmailTaken):
        catalog.create_user("a@X.com", "other-hash")


def test_unknown_user_is_not_found(catalog: Catalog) -> None:
    with pytest.raises(NotFound):
        catalog.get_user(uuid4())
    with pytest.raises(NotFound):
        catalog.get_user_by_email("nobody@example.com")


def test_update_user(catalog: Catalog) -> None:
    user = catalog.create_user("ann@example.com", "hash")
    catalog.create_user("bob@example.com", "hash")

    updated = catalog.update_user(
        user.id, email="ann@new.example", role=Role.CREATOR, profile_data={"bio": "films"}
    )

    assert (updated.email, updated.role, updated.profile_data) == (
        "ann@new.example",
        Role.CREATOR,
        {"bio": "films"},
    )
    assert updated.password_hash == "hash"
    assert updated.updated_at > user.updated_at
    assert catalog.get_user(user.id) == updated
    with pytest.raises(EmailTaken):
        catalog.update_user(user.id, email="BOB@example.com")
    with pytest.raises(NotFound):
        catalog.update_user(uuid4(), role=Role.ADMIN)


def test_an_update_without_changes_reads_the_live_account(catalog: Catalog) -> None:
    user = catalog.create_user("ann@example.com", "hash")

    assert catalog.update_user(user.id) == user
    catalog.soft_delete_user(user.id)
    with pytest.raises(NotFound):
        catalog.update_user(user.id)


def test_invalid_email_is_refused(catalog: Catalog) -> None:
    with pytest.raises(InvalidValue, match="users_email_check"):
        catalog.create_user("not-an-address", "hash")


def test_soft_delete_keeps_the_data(catalog: Catalog) -> None:
    user = catalog.create_user("ann@example.com", "hash", profile_data={"name": "Ann"})

    deleted = catalog.soft_delete_user(user.id)

    assert deleted.deleted_at is not None
    assert (deleted.email, deleted.profile_data) == (user.email, user.profile_data)
    with pytest.raises(NotFound):
        catalog.update_user(user.id, role=Role.ADMIN)
    assert catalog.soft_delete_user(user.id).deleted_at == deleted.deleted_at
    with pytest.raises(NotFound):
        catalog.soft_delete_user(uuid4())


def test_erase_user_anonymises_account_and_comments(
    catalog: Catalog, creator: User, video: Video
) -> None:
    viewer = catalog.create_user("ann@example.com", "hash", profile_data={"name": "Ann"})
    comment = catalog.add_comment(video.id, viewer.id, "Lovely rabbit")
    other = catalog.add_comment(video.id, creator.id, "Thanks")

    erased = catalog.erase_user(viewer.id)

    assert "ann" not in erased.email
    assert erased.password_hash is None
    assert erased.profile_data == {}
    assert erased.deleted_at is not None
    with pytest.raises(NotFound):
        catalog.get_user_by_email("ann@example.com")
    comments = {c.id: c for c in catalog.list_comments(video.id)}
    assert comments[comment.id].user_id is None
    assert comments[comment.id].text == "Lovely rabbit"
    assert comments[other.id].user_id == creator.id
    assert catalog.list_comments_by_user(viewer.id) == []
    with pytest.raises(InvalidState):
        catalog.add_comment(video.id, viewer.id, "still here?")
    again = catalog.erase_user(viewer.id)
    assert again.model_dump(exclude={"updated_at"}) == erased.model_dump(exclude={"updated_at"})
    # The address is free again for a new account.
    assert catalog.create_user("ann@example.com", "hash").id != viewer.id
    with pytest.raises(NotFound):
        catalog.erase_user(uuid4())
