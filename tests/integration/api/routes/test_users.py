"""Accounts through the API: registration, profile changes, export and erasure, on the dev stack."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from fastapi.testclient import TestClient
from portpicker import pick_unused_port

from api.main import create_app
from reelflow import connect
from reelflow.settings import Settings
from storage.catalog import BillingInterval, Catalog, Role, SubscriptionStatus
from storage.history import History
from tests.fixtures.api import Account
from tests.fixtures.mail import Inbox, link_token, register_by_mail, text

REGISTER = "/api/v1/users/register"
CONFIRM = "/api/v1/users/register/confirm"
LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"
ME = "/api/v1/users/me"
EXPORT = "/api/v1/users/me/export"
PASSWORD = "a long enough password"
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def app_history(api_settings: Settings) -> Iterator[History]:
    """History on the keyspace the app under test uses, connected the way the app connects."""
    with connect.history(api_settings) as history:
        yield history


@pytest.fixture
def cassandra_down(api_settings: Settings) -> Iterator[TestClient]:
    """The app on the same catalog, with Cassandra at an address where nothing listens."""
    settings = api_settings.model_copy(update={"cassandra_port": pick_unused_port()})
    with TestClient(create_app(settings)) as client:
        yield client


def ascii_json(body: object) -> bytes:
    # Escaped, so that text UTF-8 cannot encode (a lone surrogate) still reaches the API.
    return json.dumps(body).encode()


@pytest.fixture
def register(client: TestClient, inbox: Inbox) -> Callable[..., dict[str, Any]]:
    """Register through the mailed link, with PASSWORD."""

    def register(email: str, **fields: Any) -> dict[str, Any]:
        return register_by_mail(client, inbox, email=email, password=PASSWORD, **fields)

    return register


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> dict[str, str]:
    response = client.post(LOGIN, json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    tokens: dict[str, str] = response.json()
    return tokens


def bearer(tokens: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def watch(history: History, user_id: UUID, video_id: UUID, position_s: float) -> None:
    history.record_watch(
        user_id, video_id, position_s, 600.0, watched_delta_s=position_s, session_id=uuid4()
    )


def test_register_then_sign_in_then_read_me(
    client: TestClient, register: Callable[..., dict[str, Any]]
) -> None:
    created = register("  Ann@Example.com ", display_name=" Ann ")

    assert set(created) == {
        "id",
        "email",
        "role",
        "subscription_status",
        "profile_data",
        "created_at",
    }
    assert created["email"] == "Ann@Example.com"
    assert created["role"] == "viewer"
    assert created["subscription_status"] == "none"
    assert created["profile_data"] == {"display_name": "Ann"}
    me = client.get(ME, headers=bearer(sign_in(client, "ann@example.com")))
    assert me.status_code == 200
    assert me.json() == created


def test_registration_makes_viewers_or_creators_never_admins(
    client: TestClient, register: Callable[..., dict[str, Any]]
) -> None:
    assert register("viewer@example.com")["role"] == "viewer"
    assert register("creator@example.com", as_creator=True)["role"] == "creator"

    for field in ({"role": "admin"}, {"is_admin": True}):
        response = client.post(
            REGISTER, json={"email": "boss@example.com", "password": PASSWORD, **field}
        )
        assert (response.status_code, response.json()["code"]) == (422, "invalid_request")
    boss = client.post(LOGIN, json={"email": "boss@example.com", "password": PASSWORD})
    assert boss.status_code == 401


def test_an_email_registers_once_in_any_letter_case(
    client: TestClient, catalog: Catalog, inbox: Inbox, register: Callable[..., dict[str, Any]]
) -> None:
    first = register("ann@example.com")

    again = client.post(REGISTER, json={"email": "ANN@example.COM", "password": "other password"})

    # The same answer as for a new address: only the owner learns, by mail, that it has one.
    assert again.status_code == 202, again.text
    assert again.json() == {
        "detail": "a message was sent to ANN@example.COM: open its link to go on"
    }
    told = inbox.wait_for("ann@example.com", 2)[1]
    assert told["Subject"] == "You already have a Reelflow account"
    assert "#token=" not in text(told)
    assert catalog.get_user_by_email("ann@example.com").id == UUID(first["id"])
    # The first password still signs in: the second registration changed nothing.
    sign_in(client, "ann@example.com")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "ann@example.com", "password": "too short"}, "password"),
        ({"email": "ann@example.com", "password": "x" * 257}, "password"),
        ({"email": "not-an-email", "password": PASSWORD}, "email"),
        ({"email": "ann@example", "password": PASSWORD}, "email"),
        ({"email": "a" * 320 + "@example.com", "password": PASSWORD}, "email"),
        ({"email": 42, "password": PASSWORD}, "email"),
        ({"email": "ann@example.com", "password": ["a", "list"]}, "password"),
        ({"email": "ann@example.com", "password": PASSWORD, "display_name": ""}, "display_name"),
        (
            {"email": "ann@example.com", "password": PASSWORD, "display_name": "n" * 101},
            "display_name",
        ),
        ({"email": "ann@example.com", "password": PASSWORD, "as_creator": "maybe"}, "as_creator"),
        ({"password": PASSWORD}, "email"),
        # Text PostgreSQL cannot store or UTF-8 cannot encode is refused, not a 500.
        (
            {"email": "ann@example.com", "password": PASSWORD, "display_name": "A\x00"},
            "display_name",
        ),
        ({"email": "ann\x00@example.com", "password": PASSWORD}, "email"),
        ({"email": "ann@example.com", "password": "long enough \ud800"}, "password"),
    ],
)
def test_invalid_registrations_are_refused_with_the_field_named(
    client: TestClient, catalog: Catalog, body: dict[str, Any], field: str
) -> None:
    response = client.post(REGISTER, content=ascii_json(body), headers=JSON)

    assert response.status_code == 422, response.text
    error = response.json()
    assert error["code"] == "invalid_request"
    assert [d["loc"] for d in error["details"]] == [["body", field]]
    with pytest.raises(LookupError):
        catalog.get_user_by_email("ann@example.com")


def test_passwords_and_hashes_never_appear_in_responses(
    client: TestClient, app_history: History, inbox: Inbox
) -> None:
    new_password = "another long password"
    responses = [client.post(REGISTER, json={"email": "ann@example.com", "password": PASSWORD})]
    link = link_token(inbox.wait_for("ann@example.com")[0], "confirm.html")
    responses.append(client.post(CONFIRM, json={"token": link}))
    tokens = sign_in(client, "ann@example.com")
    responses += [
        client.get(ME, headers=bearer(tokens)),
        client.patch(
            ME,
            json={"new_password": new_password, "current_password": PASSWORD},
            headers=bearer(tokens),
        ),
    ]
    # The change ended every session; the new password starts one.
    tokens = sign_in(client, "ann@example.com", new_password)
    responses += [
        client.patch(ME, json={"new_password": "x"}, headers=bearer(tokens)),
        client.post(REGISTER, json={"email": "ann@example.com", "password": PASSWORD}),
        client.post(LOGIN, json={"email": "ann@example.com", "password": PASSWORD}),
        client.get(EXPORT, headers=bearer(tokens)),
    ]

    assert [r.status_code for r in responses] == [202, 201, 200, 200, 422, 202, 401, 200]
    for response in responses:
        for secret in (PASSWORD, new_password, "password_hash", "$argon2"):
            assert secret not in response.text
    for message in inbox.to("ann@example.com"):
        assert PASSWORD not in text(message)


def test_me_is_always_the_caller(
    client: TestClient, make_account: Callable[..., Account], catalog: Catalog
) -> None:
    ann, bob = make_account(), make_account(Role.CREATOR)

    assert client.get(ME, headers=ann.headers).json()["id"] == str(ann.id)
    assert client.get(ME, headers=bob.headers).json()["id"] == str(bob.id)
    changed = client.patch(ME, json={"display_name": "Ann"}, headers=ann.headers)
    assert changed.json()["id"] == str(ann.id)
    assert catalog.get_user(bob.id).profile_data == {}
    assert client.get(ME).status_code == 401
    # No route addresses another account: nothing under /users takes a path parameter.
    paths = client.get("/openapi.json").json()["paths"]
    user_paths = [p for p in paths if p.startswith("/api/v1/users")]
    assert {EXPORT, ME, REGISTER} <= set(user_paths)
    assert not [p for p in user_paths if "{" in p]


def test_patch_changes_the_display_name_and_merges_profile_fields(
    client: TestClient, make_account: Callable[..., Account], catalog: Catalog
) -> None:
    ann = make_account()

    first = client.patch(
        ME,
        json={"display_name": "Ann", "profile_data": {"bio": "films", "country": "FR"}},
        headers=ann.headers,
    )
    second = client.patch(
        ME, json={"profile_data": {"country": None, "languages": ["fr", "en"]}}, headers=ann.headers
    )
    third = client.patch(ME, json={"display_name": None}, headers=ann.headers)
    unchanged = client.patch(ME, json={}, headers=ann.headers)

    assert first.status_code == second.status_code == third.status_code == 200
    assert first.json()["profile_data"] == {"display_name": "Ann", "bio": "films", "country": "FR"}
    assert second.json()["profile_data"] == {
        "display_name": "Ann",
        "bio": "films",
        "languages": ["fr", "en"],
    }
    assert third.json()["profile_data"] == {"bio": "films", "languages": ["fr", "en"]}
    assert unchanged.json() == third.json()
    assert catalog.get_user(ann.id).profile_data == {"bio": "films", "languages": ["fr", "en"]}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"profile_data": {"bio": "x" * 5000}}, "profile_too_large"),
        ({"profile_data": {"display_name": "sneaky"}}, "invalid_request"),
        ({"profile_data": ["not", "an", "object"]}, "invalid_request"),
        ({"profile_data": {"bio\x00": "x"}}, "invalid_request"),
        ({"profile_data": {"links": [{"url": "\ud800"}]}}, "invalid_request"),
        ({"display_name": "   "}, "invalid_request"),
        ({"role": "admin"}, "invalid_request"),
        ({"email": "new@example.com"}, "current_password_required"),
        ({"new_password": "a new long password"}, "current_password_required"),
        ({"new_password": "short", "current_password": "whatever"}, "invalid_request"),
    ],
)
def test_patch_refuses_invalid_changes_and_changes_nothing(
    client: TestClient,
    make_account: Callable[..., Account],
    catalog: Catalog,
    body: dict[str, Any],
    code: str,
) -> None:
    ann = make_account()
    before = catalog.get_user(ann.id)

    response = client.patch(ME, content=ascii_json(body), headers={**ann.headers, **JSON})

    assert (response.status_code, response.json()["code"]) == (422, code)
    assert catalog.get_user(ann.id) == before


def test_profile_size_counts_what_is_already_stored(
    client: TestClient, make_account: Callable[..., Account]
) -> None:
    ann = make_account()
    half = {"profile_data": {"a": "x" * 2500}}
    assert client.patch(ME, json=half, headers=ann.headers).status_code == 200

    response = client.patch(ME, json={"profile_data": {"b": "y" * 2500}}, headers=ann.headers)

    assert (response.status_code, response.json()["code"]) == (422, "profile_too_large")
    replace = {"profile_data": {"a": None, "b": "y" * 2500}}
    assert client.patch(ME, json=replace, headers=ann.headers).status_code == 200


def test_email_change_needs_the_password_and_a_free_address(
    client: TestClient, make_account: Callable[..., Account], catalog: Catalog
) -> None:
    ann, bob = make_account(), make_account()

    wrong = client.patch(
        ME, json={"email": "ann@new.example", "current_password": "not it"}, headers=ann.headers
    )
    taken = client.patch(
        ME,
        json={"email": bob.email.upper(), "current_password": ann.password},
        headers=ann.headers,
    )
    moved = client.patch(
        ME,
        json={"email": "ann@new.example", "current_password": ann.password},
        headers=ann.headers,
    )

    assert (wrong.status_code, wrong.json()["code"]) == (403, "wrong_password")
    assert (taken.status_code, taken.json()["code"]) == (409, "email_taken")
    assert moved.status_code == 200
    assert moved.json()["email"] == "ann@new.example"
    assert catalog.get_user(ann.id).email == "ann@new.example"
    sign_in(client, "ann@new.example", ann.password)
    old = client.post(LOGIN, json={"email": ann.email, "password": ann.password})
    assert old.status_code == 401
    # Sending the current address again is no change and needs no password.
    same = client.patch(ME, json={"email": "ann@new.example"}, headers=ann.headers)
    assert same.status_code == 200


def test_password_change_signs_out_every_session(
    client: TestClient, register: Callable[..., dict[str, Any]]
) -> None:
    register("ann@example.com")
    phone, laptop = sign_in(client, "ann@example.com"), sign_in(client, "ann@example.com")
    new_password = "a brand new password"

    changed = client.patch(
        ME,
        json={"new_password": new_password, "current_password": PASSWORD},
        headers=bearer(laptop),
    )

    assert changed.status_code == 200
    for session in (phone, laptop):
        response = client.post(REFRESH, json={"refresh_token": session["refresh_token"]})
        assert (response.status_code, response.json()["code"]) == (401, "invalid_refresh_token")
        # The access tokens went with their sessions, not 15 minutes later.
        refused = client.get(ME, headers=bearer(session))
        assert (refused.status_code, refused.json()["message"]) == (
            401,
            "the session has ended; sign in again",
        )
    old = client.post(LOGIN, json={"email": "ann@example.com", "password": PASSWORD})
    assert old.status_code == 401
    fresh = sign_in(client, "ann@example.com", new_password)

    # The phone still offering its old token is refused, and does not end the new session.
    stale = client.post(REFRESH, json={"refresh_token": phone["refresh_token"]})
    assert stale.status_code == 401
    assert client.get(ME, headers=bearer(fresh)).status_code == 200
    renewed = client.post(REFRESH, json={"refresh_token": fresh["refresh_token"]})
    assert renewed.status_code == 200, renewed.text


def test_guessing_the_current_password_is_throttled(
    client: TestClient,
    make_account: Callable[..., Account],
    catalog: Catalog,
    api_settings: Settings,
) -> None:
    ann = make_account()
    before = catalog.get_user(ann.id)
    guess = {"new_password": "attacker's password", "current_password": "a guess"}
    for _ in range(api_settings.login_max_failures):
        assert client.patch(ME, json=guess, headers=ann.headers).status_code == 403

    right = {"new_password": "attacker's password", "current_password": ann.password}
    response = client.patch(ME, json=right, headers=ann.headers)

    assert (response.status_code, response.json()["code"]) == (429, "too_many_attempts")
    assert int(response.headers["Retry-After"]) > 0
    assert catalog.get_user(ann.id).password_hash == before.password_hash


def test_export_holds_profile_subscriptions_comments_videos_and_history(
    client: TestClient,
    make_account: Callable[..., Account],
    catalog: Catalog,
    app_history: History,
) -> None:
    ann = make_account(Role.CREATOR)
    stranger = make_account()
    own_video = catalog.create_video(ann.id, "Ann's film", tags=["Cats"])
    other_video = catalog.create_video(stranger.id, "Someone else's film")
    comment = catalog.add_comment(other_video.id, ann.id, "Lovely!")
    catalog.add_comment(other_video.id, stranger.id, "Thanks")
    catalog.upsert_plan(
        "monthly", name="Monthly", price_cents=999, currency="EUR", interval=BillingInterval.MONTH
    )
    catalog.create_subscription(
        ann.id, "monthly", "sub_123", status=SubscriptionStatus.ACTIVE, auto_renew=False
    )
    watch(app_history, ann.id, other_video.id, 120.0)
    watch(app_history, ann.id, own_video.id, 599.0)
    watch(app_history, stranger.id, own_video.id, 30.0)
    client.patch(ME, json={"display_name": "Ann"}, headers=ann.headers)

    response = client.get(EXPORT, headers=ann.headers)

    assert response.status_code == 200, response.text
    export = response.json()
    assert set(export) == {
        "exported_at",
        "profile",
        "subscriptions",
        "comments",
        "videos",
        "history",
        "ratings",
        "playlists",
    }
    assert abs(datetime.fromisoformat(export["exported_at"]) - datetime.now(UTC)) < timedelta(
        minutes=1
    )
    profile = export["profile"]
    assert (profile["id"], profile["email"], profile["role"]) == (str(ann.id), ann.email, "creator")
    assert profile["profile_data"] == {"display_name": "Ann"}
    assert profile["subscription_status"] == "active"
    assert "password_hash" not in profile
    assert [(s["plan_id"], s["status"], s["auto_renew"]) for s in export["subscriptions"]] == [
        ("monthly", "active", False)
    ]
    assert [
        (c["id"], c["video_id"], c["text"], datetime.fromisoformat(c["created_at"]))
        for c in export["comments"]
    ] == [(str(comment.id), str(other_video.id), "Lovely!", comment.created_at)]
    assert [(v["id"], v["title"], v["tags"]) for v in export["videos"]] == [
        (str(own_video.id), "Ann's film", ["cats"])
    ]
    history = [(h["video_id"], h["position_s"], h["finished"]) for h in export["history"]]
    assert history == [(str(own_video.id), 599.0, True), (str(other_video.id), 120.0, False)]


def test_export_of_a_new_account_is_empty_but_complete(
    client: TestClient, make_account: Callable[..., Account]
) -> None:
    ann = make_account()

    export = client.get(EXPORT, headers=ann.headers).json()

    assert export["profile"]["id"] == str(ann.id)
    assert [export[k] for k in ("subscriptions", "comments", "videos", "history")] == [[]] * 4


def test_delete_erases_the_account_in_both_stores(
    client: TestClient,
    make_account: Callable[..., Account],
    catalog: Catalog,
    app_history: History,
    api_settings: Settings,
    register: Callable[..., dict[str, Any]],
) -> None:
    ann, bob = make_account(), make_account(Role.CREATOR)
    video = catalog.create_video(bob.id, "Bob's film")
    comment = catalog.add_comment(video.id, ann.id, "Ann was here")
    watched_on = {datetime.now(UTC).date()}
    watch(app_history, ann.id, video.id, 42.0)
    watch(app_history, bob.id, video.id, 10.0)
    tokens = sign_in(client, ann.email, ann.password)

    response = client.delete(ME, headers=ann.headers)

    assert response.status_code == 204
    assert response.content == b""
    # The day Ann watched on is queued for rebuilding, once.
    watched_on.add(datetime.now(UTC).date())
    [erasure] = catalog.list_analytics_erasures(after_id=0)
    assert len(erasure.days) == 1 and set(erasure.days) <= watched_on
    assert app_history.history(ann.id) == []
    assert app_history.get_progress(ann.id, video.id) is None
    assert [e.video_id for e in app_history.history(bob.id)] == [video.id]
    erased = catalog.get_user(ann.id)
    assert erased.deleted_at is not None
    assert erased.password_hash is None
    assert erased.profile_data == {}
    assert ann.email not in erased.email
    kept = catalog.list_comments(video.id)
    assert [(c.id, c.user_id, c.text) for c in kept] == [(comment.id, None, "Ann was here")]
    with psycopg.connect(api_settings.postgres_dsn) as conn:
        live = conn.execute(
            "SELECT count(*) FROM refresh_tokens WHERE user_id = %s AND revoked_at IS NULL",
            (ann.id,),
        ).fetchone()
    assert live == (0,)
    # The access token from before the erasure, the refresh token and the password are dead.
    assert client.get(ME, headers=ann.headers).status_code == 401
    assert client.delete(ME, headers=ann.headers).status_code == 401
    refreshed = client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 401
    login = client.post(LOGIN, json={"email": ann.email, "password": ann.password})
    assert (login.status_code, login.json()["code"]) == (401, "invalid_credentials")
    # The address is free again.
    assert register(ann.email)["id"] != str(ann.id)
    assert client.get(ME, headers=bob.headers).status_code == 200


def test_with_cassandra_down_delete_and_export_change_nothing(
    client: TestClient,
    cassandra_down: TestClient,
    make_account: Callable[..., Account],
    catalog: Catalog,
    app_history: History,
) -> None:
    ann, bob = make_account(), make_account(Role.CREATOR)
    video = catalog.create_video(bob.id, "Bob's film")
    comment = catalog.add_comment(video.id, ann.id, "Still here")
    watch(app_history, ann.id, video.id, 42.0)
    before = catalog.get_user(ann.id)

    deleted = cassandra_down.delete(ME, headers=ann.headers)
    exported = cassandra_down.get(EXPORT, headers=ann.headers)

    for response in (deleted, exported):
        assert response.status_code == 503
        assert response.json()["code"] == "history_unavailable"
    assert catalog.get_user(ann.id) == before
    assert [c.user_id for c in catalog.list_comments(video.id)] == [ann.id]
    assert catalog.list_comments(video.id)[0].id == comment.id
    assert [e.video_id for e in app_history.history(ann.id)] == [video.id]
    assert cassandra_down.get(ME, headers=ann.headers).status_code == 200
    sign_in(client, ann.email, ann.password)
    # With Cassandra back, the same request completes the erasure.
    assert client.delete(ME, headers=ann.headers).status_code == 204
    assert app_history.history(ann.id) == []


def test_error_responses_are_documented(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    error_ref = {"$ref": "#/components/schemas/ErrorPublic"}
    expected = {
        (REGISTER, "post"): {"202", "422", "429", "503"},
        (CONFIRM, "post"): {"201", "400", "409", "422"},
        (ME, "get"): {"200", "401"},
        (ME, "patch"): {"200", "401", "403", "409", "422", "429"},
        (ME, "delete"): {"204", "401", "503"},
        (EXPORT, "get"): {"200", "401", "503"},
    }
    for (path, method), statuses in expected.items():
        operation = paths[path][method]
        assert set(operation["responses"]) == statuses, (path, method)
        for status in statuses - {"200", "201", "202", "204"}:
            content = operation["responses"][status]["content"]["application/json"]
            assert content["schema"] == error_ref
        assert operation["description"]
    me_schema = paths[ME]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert me_schema == {"$ref": "#/components/schemas/UserPublic"}
