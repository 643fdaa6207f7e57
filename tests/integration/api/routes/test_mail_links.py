"""Registration confirmed by mail and password reset, through the API, with the messages read
from a real SMTP server."""

from __future__ import annotations

from typing import Any

import psycopg
from fastapi.testclient import TestClient

from reelflow.settings import Settings
from storage.catalog import Catalog
from tests.fixtures.mail import Inbox, link_token, register_by_mail, text

REGISTER = "/api/v1/users/register"
CONFIRM = "/api/v1/users/register/confirm"
LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"
RESET = "/api/v1/auth/password-reset"
RESET_CONFIRM = "/api/v1/auth/password-reset/confirm"
PASSWORD = "a long enough password"


def ask(client: TestClient, email: str, password: str = PASSWORD, **fields: Any) -> str:
    """Register `email`; the answer's detail with the address taken out."""
    response = client.post(REGISTER, json={"email": email, "password": password, **fields})
    assert response.status_code == 202, response.text
    detail: str = response.json()["detail"]
    return detail.replace(email, "<address>")


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> int:
    return client.post(LOGIN, json={"email": email, "password": password}).status_code


def outbox_rows(settings: Settings, address: str) -> int:
    with psycopg.connect(settings.postgres_dsn) as conn:
        row = conn.execute(
            "SELECT count(*) FROM mail_outbox m LEFT JOIN users u ON u.id = m.user_id"
            " WHERE lower(coalesce(m.to_address, u.email)) = lower(%s)",
            (address,),
        ).fetchone()
    return 0 if row is None else int(row[0])


def test_registration_answers_alike_whether_or_not_the_address_has_an_account(
    client: TestClient, inbox: Inbox, catalog: Catalog
) -> None:
    register_by_mail(client, inbox, email="ann@example.com", password=PASSWORD)

    taken = ask(client, "ANN@example.com", "someone else's password")
    new = ask(client, "bob@example.com", as_creator=True)

    assert taken == new
    (exists,) = inbox.wait_for("ANN@example.com", 2)[1:]
    assert exists["Subject"] == "You already have a Reelflow account"
    assert "#token=" not in text(exists)
    assert "/reset.html" in text(exists)
    (confirm,) = inbox.wait_for("bob@example.com")
    assert confirm["Subject"] == "Confirm your Reelflow account"
    # Nobody has an account before its link is opened; Ann's password is unchanged.
    assert sign_in(client, "bob@example.com") == 401
    assert sign_in(client, "ann@example.com", "someone else's password") == 401
    assert sign_in(client, "ann@example.com") == 200

    created = client.post(CONFIRM, json={"token": link_token(confirm, "confirm.html")})

    assert created.status_code == 201, created.text
    assert (created.json()["email"], created.json()["role"]) == ("bob@example.com", "creator")
    assert sign_in(client, "bob@example.com") == 200


def test_a_confirmation_link_works_once_and_not_once_expired(
    client: TestClient, inbox: Inbox, api_settings: Settings
) -> None:
    ask(client, "ann@example.com")
    ask(client, "bob@example.com")
    ann = link_token(inbox.wait_for("ann@example.com")[0], "confirm.html")
    bob = link_token(inbox.wait_for("bob@example.com")[0], "confirm.html")
    with psycopg.connect(api_settings.postgres_dsn) as conn:
        conn.execute(
            "UPDATE registrations SET expires_at = now() - interval '1 second'"
            " WHERE email = 'bob@example.com'"
        )

    first = client.post(CONFIRM, json={"token": ann})
    again = client.post(CONFIRM, json={"token": ann})
    expired = client.post(CONFIRM, json={"token": bob})
    forged = client.post(CONFIRM, json={"token": ann[:-2] + "AA"})

    assert first.status_code == 201
    for refused in (again, expired, forged):
        assert (refused.status_code, refused.json()["code"]) == (400, "invalid_link")
    assert sign_in(client, "bob@example.com") == 401


def test_of_two_registrations_of_an_address_the_first_link_opened_wins(
    client: TestClient, inbox: Inbox
) -> None:
    # Someone who types Ann's address first cannot keep her from registering it.
    ask(client, "ann@example.com", "the squatter's password")
    ask(client, "ann@example.com", PASSWORD, display_name="Ann")
    squatter, own = (link_token(m, "confirm.html") for m in inbox.wait_for("ann@example.com", 2))

    created = client.post(CONFIRM, json={"token": own})
    late = client.post(CONFIRM, json={"token": squatter})

    assert created.status_code == 201
    assert created.json()["profile_data"] == {"display_name": "Ann"}
    assert (late.status_code, late.json()["code"]) == (400, "invalid_link")
    assert sign_in(client, "ann@example.com") == 200
    assert sign_in(client, "ann@example.com", "the squatter's password") == 401


def test_registering_an_address_again_and_again_mails_it_three_times_an_hour(
    client: TestClient, inbox: Inbox, api_settings: Settings
) -> None:
    answers = {ask(client, "ann@example.com") for _ in range(6)}

    assert len(answers) == 1
    assert outbox_rows(api_settings, "ann@example.com") == 3
    assert len(inbox.wait_for("ann@example.com", 3)) == 3


def test_a_password_reset_sets_a_new_password_once_and_signs_out_everywhere(
    client: TestClient, inbox: Inbox
) -> None:
    register_by_mail(client, inbox, email="ann@example.com", password=PASSWORD)
    session = client.post(LOGIN, json={"email": "ann@example.com", "password": PASSWORD}).json()
    new_password = "a brand new password"

    asked = client.post(RESET, json={"email": "ANN@example.com"})
    (message,) = inbox.wait_for("ann@example.com", 2)[1:]
    link = link_token(message, "reset.html")
    done = client.post(RESET_CONFIRM, json={"token": link, "new_password": new_password})
    again = client.post(RESET_CONFIRM, json={"token": link, "new_password": "a third password"})

    assert asked.status_code == 202
    assert message["Subject"] == "Reset your Reelflow password"
    assert done.status_code == 204, done.text
    assert (again.status_code, again.json()["code"]) == (400, "invalid_link")
    assert sign_in(client, "ann@example.com") == 401
    assert sign_in(client, "ann@example.com", new_password) == 200
    refreshed = client.post(REFRESH, json={"refresh_token": session["refresh_token"]})
    assert refreshed.status_code == 401


def test_a_reset_for_an_address_without_an_account_answers_alike_and_mails_nothing(
    client: TestClient, inbox: Inbox, api_settings: Settings
) -> None:
    register_by_mail(client, inbox, email="ann@example.com", password=PASSWORD)

    known = client.post(RESET, json={"email": "ann@example.com"})
    unknown = client.post(RESET, json={"email": "nobody@example.com"})
    short = client.post(RESET_CONFIRM, json={"token": "x", "new_password": "short"})

    assert (known.status_code, unknown.status_code) == (202, 202)
    assert known.json()["detail"].replace("ann@example.com", "<address>") == unknown.json()[
        "detail"
    ].replace("nobody@example.com", "<address>")
    assert outbox_rows(api_settings, "nobody@example.com") == 0
    assert (short.status_code, short.json()["code"]) == (422, "invalid_request")
