"""Sign-in, the login throttle, refresh-token rotation and sign-out, on the real dev stack."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import jwt
import psycopg
import pytest
from fastapi.testclient import TestClient

from api.security import ACCESS_TOKEN_TTL, ISSUER, create_access_token, hash_password
from reelflow.settings import Settings
from storage.catalog import Catalog, Role, User
from tests.fixtures.api import Account

LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
ME = "/api/v1/users/me"


def from_address(client: TestClient, address: str) -> TestClient:
    """The same running app, called from another client address."""
    return TestClient(client.app, client=(address, 50000))


def new_user(catalog: Catalog, password: str = "correct horse battery") -> User:
    return catalog.create_user(f"user-{secrets.token_hex(4)}@example.com", hash_password(password))


def login(client: TestClient, email: str, password: str) -> tuple[int, dict[str, object]]:
    response = client.post(LOGIN, json={"email": email, "password": password})
    return response.status_code, response.json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def age_login_failures(dsn: str, seconds: int) -> None:
    """Move every recorded failure `seconds` into the past, as if that much time had passed."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "UPDATE login_failures SET failed_at = failed_at - make_interval(secs => %s)",
            (seconds,),
        )


def test_login_answers_tokens_that_identify_the_account(
    client: TestClient, catalog: Catalog, api_settings: Settings
) -> None:
    user = new_user(catalog)

    response = client.post(
        LOGIN, json={"email": user.email.upper(), "password": "correct horse battery"}
    )

    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == ACCESS_TOKEN_TTL.total_seconds()
    assert body["refresh_token"] != body["access_token"]
    claims = jwt.decode(
        body["access_token"],
        api_settings.jwt_secret.get_secret_value(),
        algorithms=["HS256"],
        issuer=ISSUER,
    )
    assert (claims["sub"], claims["role"], claims["typ"]) == (str(user.id), "viewer", "access")
    me = client.get(ME, headers=bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.json()["id"] == str(user.id)


def test_unknown_email_and_wrong_password_get_the_same_answer(
    client: TestClient, catalog: Catalog
) -> None:
    user = new_user(catalog)

    wrong_password = client.post(LOGIN, json={"email": user.email, "password": "not it at all"})
    unknown_email = client.post(
        LOGIN, json={"email": "nobody@example.com", "password": "correct horse battery"}
    )

    assert wrong_password.status_code == unknown_email.status_code == 401
    assert wrong_password.json() == unknown_email.json()
    assert wrong_password.json()["code"] == "invalid_credentials"
    assert "access_token" not in wrong_password.text


def test_deleted_and_erased_accounts_cannot_sign_in(client: TestClient, catalog: Catalog) -> None:
    deleted, erased = new_user(catalog), new_user(catalog)
    catalog.soft_delete_user(deleted.id)
    catalog.erase_user(erased.id)

    for user in (deleted, erased):
        status, body = login(client, user.email, "correct horse battery")
        assert (status, body["code"]) == (401, "invalid_credentials")
    erased_email = catalog.get_user(erased.id).email
    status, body = login(client, erased_email, "correct horse battery")
    assert (status, body["code"]) == (401, "invalid_credentials")


def test_account_is_throttled_across_addresses_even_with_the_right_password(
    client: TestClient, catalog: Catalog, api_settings: Settings
) -> None:
    user, bystander = new_user(catalog), new_user(catalog)
    limit = api_settings.login_max_failures
    for i in range(limit):
        status, _ = login(from_address(client, f"198.51.100.{i}"), user.email, "wrong guess!")
        assert status == 401

    fresh = from_address(client, "203.0.113.7")
    refused = fresh.post(LOGIN, json={"email": user.email, "password": "correct horse battery"})

    assert refused.status_code == 429
    assert refused.json()["code"] == "too_many_attempts"
    assert "access_token" not in refused.text
    retry_after = int(refused.headers["Retry-After"])
    assert 0 < retry_after <= api_settings.login_window_s
    # The throttle is per account: the same address signs someone else in.
    assert login(fresh, bystander.email, "correct horse battery")[0] == 200
    # Still inside the window (a minute before Retry-After): still refused.
    age_login_failures(api_settings.postgres_dsn, retry_after - 60)
    assert login(fresh, user.email.upper(), "correct horse battery")[0] == 429
    age_login_failures(api_settings.postgres_dsn, 61)
    assert login(fresh, user.email, "correct horse battery")[0] == 200


def test_every_spelling_of_an_address_counts_against_one_account(
    client: TestClient, catalog: Catalog, api_settings: Settings
) -> None:
    suffix = secrets.token_hex(4)
    user = catalog.create_user(f"iris-{suffix}@example.com", hash_password("correct horse battery"))
    # PostgreSQL's lower() finds the account by "İris-…" ("i"); Python's lower() makes it
    # "i̇ris-…", which a throttle keyed on the typed address would count apart.
    variant = f"\u0130ris-{suffix}@example.com"
    assert catalog.get_user_by_email(variant).id == user.id
    for i in range(api_settings.login_max_failures):
        status, _ = login(from_address(client, f"198.51.100.{i}"), variant, "wrong guess!")
        assert status == 401
    status, body = login(from_address(client, "203.0.113.9"), user.email, "correct horse battery")
    assert (status, body["code"]) == (429, "too_many_attempts")


def test_address_is_throttled_across_accounts(
    client: TestClient, catalog: Catalog, api_settings: Settings
) -> None:
    user = new_user(catalog)
    attacker = from_address(client, "192.0.2.66")
    for _ in range(api_settings.login_max_failures):
        status, _ = login(attacker, f"{uuid4().hex}@example.com", "guess guess guess")
        assert status == 401

    status, body = login(attacker, user.email, "correct horse battery")

    assert (status, body["code"]) == (429, "too_many_attempts")
    assert login(from_address(client, "192.0.2.67"), user.email, "correct horse battery")[0] == 200
    # Signing in did not reset the address: a working account does not unlock guessing.
    assert login(attacker, user.email, "correct horse battery")[0] == 429
    age_login_failures(api_settings.postgres_dsn, api_settings.login_window_s)
    assert login(attacker, user.email, "correct horse battery")[0] == 200


def test_a_successful_sign_in_clears_the_accounts_failures(
    client: TestClient, catalog: Catalog, api_settings: Settings
) -> None:
    user = new_user(catalog)
    limit = api_settings.login_max_failures
    for round_ in range(2):
        for i in range(limit - 1):
            address = f"198.51.100.{round_ * limit + i}"
            assert login(from_address(client, address), user.email, "wrong guess!")[0] == 401
        assert login(client, user.email, "correct horse battery")[0] == 200


def test_parallel_guesses_get_no_more_password_checks_than_the_limit(
    client: TestClient, catalog: Catalog, api_settings: Settings
) -> None:
    user = new_user(catalog)
    guesses = 4 * api_settings.login_max_failures

    def guess(i: int) -> int:
        return login(from_address(client, f"198.51.100.{i}"), user.email, f"guess-{i:04}")[0]

    with ThreadPoolExecutor(max_workers=guesses) as pool:
        statuses = list(pool.map(guess, range(guesses)))

    # Attempts on one account are counted one at a time: exactly the limit get checked.
    assert sorted(statuses) == [401] * api_settings.login_max_failures + [429] * (
        guesses - api_settings.login_max_failures
    )
    assert catalog.recent_login_failures(f"account:{user.id}", api_settings.login_window_s) == (
        api_settings.login_max_failures
    )
    assert login(client, user.email, "correct horse battery")[0] == 429


def test_refresh_rotates_and_a_reused_token_revokes_the_whole_family(
    client: TestClient, catalog: Catalog
) -> None:
    user = new_user(catalog)
    first = login(client, user.email, "correct horse battery")[1]
    other_session = login(client, user.email, "correct horse battery")[1]

    rotated = client.post(REFRESH, json={"refresh_token": first["refresh_token"]})
    assert rotated.status_code == 200, rotated.text
    assert rotated.headers["Cache-Control"] == "no-store"
    second = rotated.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert client.get(ME, headers=bearer(second["access_token"])).json()["id"] == str(user.id)
    third = client.post(REFRESH, json={"refresh_token": second["refresh_token"]}).json()
    # Rotation keeps the session: the access tokens issued along it stay good.
    for tokens in (first, second, third):
        assert client.get(ME, headers=bearer(tokens["access_token"])).status_code == 200

    # The first token was used already: someone holds a copy.
    reused = client.post(REFRESH, json={"refresh_token": first["refresh_token"]})

    assert reused.status_code == 401
    assert reused.json()["code"] == "invalid_refresh_token"
    for token in (third["refresh_token"], other_session["refresh_token"]):
        response = client.post(REFRESH, json={"refresh_token": token})
        assert (response.status_code, response.json()["code"]) == (401, "invalid_refresh_token")
    for tokens in (third, other_session):
        assert client.get(ME, headers=bearer(tokens["access_token"])).status_code == 401
    assert login(client, user.email, "correct horse battery")[0] == 200


def test_unknown_and_expired_refresh_tokens_are_refused(
    client: TestClient, catalog: Catalog, api_settings: Settings
) -> None:
    user = new_user(catalog)
    tokens = login(client, user.email, "correct horse battery")[1]
    with psycopg.connect(api_settings.postgres_dsn, autocommit=True) as conn:
        conn.execute(
            "UPDATE refresh_tokens SET created_at = now() - interval '31 days',"
            " expires_at = now() - interval '1 day' WHERE user_id = %s",
            (user.id,),
        )

    for token in (tokens["refresh_token"], secrets.token_urlsafe(32)):
        response = client.post(REFRESH, json={"refresh_token": token})
        assert (response.status_code, response.json()["code"]) == (401, "invalid_refresh_token")
    # An access token is longer than any refresh token: refused before any lookup.
    mistaken = client.post(REFRESH, json={"refresh_token": tokens["access_token"]})
    assert (mistaken.status_code, mistaken.json()["code"]) == (422, "invalid_request")


def test_refresh_after_the_account_is_deleted_is_refused(
    client: TestClient, catalog: Catalog
) -> None:
    user = new_user(catalog)
    tokens = login(client, user.email, "correct horse battery")[1]
    catalog.soft_delete_user(user.id)

    response = client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})

    assert (response.status_code, response.json()["code"]) == (401, "invalid_refresh_token")


def test_logout_revokes_the_refresh_token(client: TestClient, catalog: Catalog) -> None:
    user = new_user(catalog)
    tokens = login(client, user.email, "correct horse battery")[1]
    unauthenticated = client.post(LOGOUT, json={"refresh_token": tokens["refresh_token"]})
    assert (unauthenticated.status_code, unauthenticated.json()["code"]) == (401, "unauthorized")

    own = client.post(
        LOGOUT,
        json={"refresh_token": tokens["refresh_token"]},
        headers=bearer(tokens["access_token"]),
    )

    assert own.status_code == 204
    assert own.content == b""
    response = client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
    assert (response.status_code, response.json()["code"]) == (401, "invalid_refresh_token")
    # The session is over for its access token too, at once.
    again = client.post(
        LOGOUT,
        json={"refresh_token": tokens["refresh_token"]},
        headers=bearer(tokens["access_token"]),
    )
    assert (again.status_code, again.json()["message"]) == (
        401,
        "the session has ended; sign in again",
    )


def test_logout_ends_its_own_session_only(client: TestClient, catalog: Catalog) -> None:
    user = new_user(catalog)
    phone = login(client, user.email, "correct horse battery")[1]
    laptop = login(client, user.email, "correct horse battery")[1]

    signed_out = client.post(
        LOGOUT,
        json={"refresh_token": laptop["refresh_token"]},
        headers=bearer(laptop["access_token"]),
    )

    assert signed_out.status_code == 204
    assert client.get(ME, headers=bearer(laptop["access_token"])).status_code == 401
    assert client.get(ME, headers=bearer(phone["access_token"])).status_code == 200
    renewed = client.post(REFRESH, json={"refresh_token": phone["refresh_token"]})
    assert client.get(ME, headers=bearer(renewed.json()["access_token"])).status_code == 200


def test_logout_of_another_accounts_token_leaves_it_working(
    client: TestClient, make_account: Callable[..., Account], catalog: Catalog
) -> None:
    user = new_user(catalog)
    tokens = login(client, user.email, "correct horse battery")[1]

    client.post(
        LOGOUT, json={"refresh_token": tokens["refresh_token"]}, headers=make_account().headers
    )

    assert client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]}).status_code == 200


def _claims(user: User, session: UUID, **changes: object) -> dict[str, object]:
    """An access token's claims for a live session, with `changes` (None drops a claim)."""
    now = datetime.now(UTC)
    claims: dict[str, object] = {
        "sub": str(user.id),
        "sid": str(session),
        "role": "viewer",
        "typ": "access",
        "iss": ISSUER,
        "iat": now,
        "exp": now + timedelta(minutes=5),
    }
    return {name: value for name, value in (claims | changes).items() if value is not None}


def _signed(claims: dict[str, object], secret: str) -> str:
    return jwt.encode(claims, secret, algorithm="HS256")


def _none_token(claims: dict[str, object]) -> str:
    return jwt.encode(claims, key=None, algorithm="none")


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(
            lambda user, session, secret: create_access_token(
                user.id,
                user.role,
                secret,
                session_id=session,
                now=datetime.now(UTC) - timedelta(hours=1),
            ),
            id="expired",
        ),
        pytest.param(
            lambda user, session, secret: create_access_token(
                user.id, Role.ADMIN, "forged-" + secret, session_id=session
            ),
            id="forged",
        ),
        pytest.param(
            lambda user, session, secret: _none_token(_claims(user, session, role="admin")),
            id="alg-none",
        ),
        pytest.param(
            lambda user, session, secret: _signed(_claims(user, session, typ="refresh"), secret),
            id="not-an-access-token",
        ),
        pytest.param(
            lambda user, session, secret: create_access_token(
                uuid4(), Role.VIEWER, secret, session_id=session
            ),
            id="unknown-user",
        ),
        pytest.param(
            lambda user, session, secret: create_access_token(
                user.id, user.role, secret, session_id=uuid4()
            ),
            id="unknown-session",
        ),
        pytest.param(
            lambda user, session, secret: _signed(_claims(user, session, sid=None), secret),
            id="no-session",
        ),
        pytest.param(lambda user, session, secret: "not.a.jwt", id="garbage"),
    ],
)
def test_bad_access_tokens_are_refused(
    client: TestClient,
    catalog: Catalog,
    api_settings: Settings,
    make_token: Callable[[User, UUID, str], str],
) -> None:
    user = new_user(catalog)
    # A live session of the user: only what `make_token` does wrong is refused.
    session = catalog.store_refresh_token(
        user.id, secrets.token_bytes(32), datetime.now(UTC) + timedelta(days=1)
    )
    good = create_access_token(
        user.id, user.role, api_settings.jwt_secret.get_secret_value(), session_id=session
    )
    assert client.get(ME, headers=bearer(good)).status_code == 200
    token = make_token(user, session, api_settings.jwt_secret.get_secret_value())

    response = client.get(ME, headers=bearer(token))

    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(
    ("path", "content", "status", "code"),
    [
        (LOGIN, b"{not json", 422, "invalid_request"),
        (LOGIN, b'{"email": ["a@b.c"], "password": "x"}', 422, "invalid_request"),
        (LOGIN, b'{"email": "a@b.c", "password": 12345678901}', 422, "invalid_request"),
        (LOGIN, b'{"email": "a@b.c"}', 422, "invalid_request"),
        (LOGIN, b'{"email": "a@b.c", "password": "p", "role": "admin"}', 422, "invalid_request"),
        (LOGIN, b"[]", 422, "invalid_request"),
        (LOGIN, b"", 422, "invalid_request"),
        (LOGIN, b'{"email": "a@b.c", "password": "' + b"p" * 257 + b'"}', 422, "invalid_request"),
        (LOGIN, b'{"email": "' + b"e" * 400 + b'@b.c", "password": "p"}', 422, "invalid_request"),
        (LOGIN, b'{"email": "a\\u0000@b.c", "password": "p"}', 422, "invalid_request"),
        (LOGIN, b'{"email": "a@b.c", "password": "\\ud800"}', 422, "invalid_request"),
        (REFRESH, b'{"refresh_token": null}', 422, "invalid_request"),
        (REFRESH, b'{"refresh_token": "' + b"t" * 300 + b'"}', 422, "invalid_request"),
        (REFRESH, b'{"refresh_token": "x' + b" " * 2_000_000 + b'"}', 413, "payload_too_large"),
    ],
)
def test_malformed_bodies_get_json_errors_with_a_code(
    client: TestClient, path: str, content: bytes, status: int, code: str
) -> None:
    response = client.post(path, content=content, headers={"Content-Type": "application/json"})

    assert response.status_code == status, response.text
    assert response.json()["code"] == code


@pytest.mark.parametrize("path", [LOGIN, "/api/v1/billing/webhook", "/api/v1/drm/clearkey/license"])
def test_a_chunked_body_past_the_limit_is_refused(
    client: TestClient, api_settings: Settings, path: str
) -> None:
    def chunks() -> Iterator[bytes]:
        # No Content-Length: the body is sent chunked, twice the limit in all.
        yield b'{"email": "a@b.c", "password": "'
        for _ in range(2 * api_settings.max_request_bytes // 65536):
            yield b"p" * 65536

    response = client.post(path, content=chunks(), headers={"Content-Type": "application/json"})

    assert "content-length" not in response.request.headers
    assert (response.status_code, response.json()["code"]) == (413, "payload_too_large")


def test_error_responses_are_documented(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    error_ref = {"$ref": "#/components/schemas/ErrorPublic"}
    expected = {
        (LOGIN, "post"): {"200", "401", "422", "429"},
        (REFRESH, "post"): {"200", "401", "422"},
        (LOGOUT, "post"): {"204", "401", "422"},
    }
    for (path, method), statuses in expected.items():
        responses = paths[path][method]["responses"]
        assert set(responses) == statuses
        for status in statuses - {"200", "204"}:
            assert responses[status]["content"]["application/json"]["schema"] == error_ref
        assert paths[path][method]["description"]
