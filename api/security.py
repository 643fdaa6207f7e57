"""Passwords (argon2id), access tokens (JWT) and opaque refresh tokens."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from storage.catalog import Role

ACCESS_TOKEN_TTL = timedelta(minutes=15)
REFRESH_TOKEN_TTL = timedelta(days=30)
ALGORITHM = "HS256"
ISSUER = "reelflow"

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters

# A hash to verify against when the account does not exist, so a login for an unknown email
# takes as long as one for a known email.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def create_access_token(
    user_id: UUID, role: Role, secret: str, *, session_id: UUID, now: datetime | None = None
) -> str:
    """A short-lived bearer token of the user, honoured while its session lives."""
    issued = now or datetime.now(UTC)
    claims = {
        "sub": str(user_id),
        "sid": str(session_id),
        "role": role.value,
        "typ": "access",
        "iss": ISSUER,
        "iat": issued,
        "exp": issued + ACCESS_TOKEN_TTL,
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode_access_token(token: str, secret: str) -> dict[str, Any]:
    """The claims of a valid access token; jwt.InvalidTokenError otherwise."""
    claims: dict[str, Any] = jwt.decode(
        token,
        secret,
        algorithms=[ALGORITHM],
        issuer=ISSUER,
        options={"require": ["sub", "sid", "exp", "iat", "typ"]},
    )
    if claims.get("typ") != "access":
        raise jwt.InvalidTokenError("not an access token")
    return claims


def new_secret_token() -> tuple[str, bytes]:
    """A single-use secret for the client (a refresh token, a link sent by mail) and the digest
    the catalog stores instead of it."""
    token = secrets.token_urlsafe(32)
    return token, secret_token_digest(token)


def secret_token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
