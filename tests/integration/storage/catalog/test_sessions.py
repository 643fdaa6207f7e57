"""Refresh tokens and sessions in the catalog against a real PostgreSQL database."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import uuid4

import psycopg
import pytest

from storage.catalog import Catalog, InvalidState, NotFound, User


@pytest.fixture
def user(catalog: Catalog) -> User:
    return catalog.create_user("ann@example.com", "hash")


@pytest.fixture
def expires_at(catalog: Catalog) -> datetime:
    return catalog.database_now() + timedelta(days=30)


def test_a_stored_token_starts_a_live_session(
    catalog: Catalog, user: User, expires_at: datetime
) -> None:
    session_id = catalog.store_refresh_token(user.id, b"first", expires_at)

    assert catalog.get_session_user(user.id, session_id) == user
    assert catalog.store_refresh_token(user.id, b"second", expires_at) != session_id
    with pytest.raises(InvalidState):
        catalog.get_session_user(user.id, uuid4())
    with pytest.raises(NotFound):
        catalog.get_session_user(uuid4(), session_id)
    with pytest.raises(NotFound):
        catalog.store_refresh_token(uuid4(), b"orphan", expires_at)


def test_rotation_keeps_the_session_and_works_once(
    catalog: Catalog, user: User, expires_at: datetime
) -> None:
    session_id = catalog.store_refresh_token(user.id, b"first", expires_at)

    assert catalog.rotate_refresh_token(b"first", b"second", expires_at) == (user.id, session_id)
    assert catalog.rotate_refresh_token(b"second", b"third", expires_at) == (user.id, session_id)
    assert catalog.get_session_user(user.id, session_id) == user
    with pytest.raises(NotFound):
        catalog.rotate_refresh_token(b"unknown", b"fourth", expires_at)


def test_replaying_an_exchanged_token_revokes_every_token_of_the_user(
    catalog: Catalog, user: User, expires_at: datetime
) -> None:
    stolen = catalog.store_refresh_token(user.id, b"first", expires_at)
    other_device = catalog.store_refresh_token(user.id, b"other", expires_at)
    catalog.rotate_refresh_token(b"first", b"second", expires_at)

    with pytest.raises(InvalidState, match="all its tokens are revoked"):
        catalog.rotate_refresh_token(b"first", b"replayed", expires_at)

    for session_id in (stolen, other_device):
        with pytest.raises(InvalidState):
            catalog.get_session_user(user.id, session_id)
    with pytest.raises(InvalidState, match="revoked"):
        catalog.rotate_refresh_token(b"second", b"third", expires_at)


def test_a_token_revoked_on_sign_out_is_only_refused(
    catalog: Catalog, user: User, expires_at: datetime
) -> None:
    ended = catalog.store_refresh_token(user.id, b"signed-out", expires_at)
    kept = catalog.store_refresh_token(user.id, b"kept", expires_at)
    other = catalog.create_user("bob@example.com", "hash")

    assert catalog.revoke_refresh_token(b"signed-out", user_id=other.id) is False
    assert catalog.revoke_refresh_token(b"signed-out", user_id=user.id) is True
    assert catalog.revoke_refresh_token(b"signed-out") is False

    with pytest.raises(InvalidState, match="was revoked"):
        catalog.rotate_refresh_token(b"signed-out", b"new", expires_at)
    with pytest.raises(InvalidState):
        catalog.get_session_user(user.id, ended)
    assert catalog.get_session_user(user.id, kept) == user


def test_revoking_every_token_of_a_user(catalog: Catalog, user: User, expires_at: datetime) -> None:
    sessions = [catalog.store_refresh_token(user.id, bytes([i]), expires_at) for i in range(3)]
    catalog.revoke_refresh_token(bytes([0]))
    other = catalog.create_user("bob@example.com", "hash")
    other_session = catalog.store_refresh_token(other.id, b"bob", expires_at)

    assert catalog.revoke_user_refresh_tokens(user.id) == 2
    assert catalog.revoke_user_refresh_tokens(user.id) == 0
    for session_id in sessions:
        with pytest.raises(InvalidState):
            catalog.get_session_user(user.id, session_id)
    assert catalog.get_session_user(other.id, other_session) == other


def test_expired_tokens_and_deleted_accounts_end_the_session(
    catalog: Catalog, catalog_dsn: str, user: User, expires_at: datetime
) -> None:
    expired = catalog.store_refresh_token(user.id, b"expired", expires_at)
    catalog.store_refresh_token(user.id, b"live", expires_at)
    with psycopg.connect(catalog_dsn) as conn:
        conn.execute(
            "UPDATE refresh_tokens SET created_at = now() - interval '2 days',"
            " expires_at = now() - interval '1 day' WHERE token_hash = %s",
            (b"expired",),
        )

    with pytest.raises(InvalidState):
        catalog.get_session_user(user.id, expired)
    with pytest.raises(InvalidState, match="expired"):
        catalog.rotate_refresh_token(b"expired", b"new", expires_at)

    catalog.soft_delete_user(user.id)
    with pytest.raises(InvalidState, match="deleted"):
        catalog.rotate_refresh_token(b"live", b"newer", expires_at)
