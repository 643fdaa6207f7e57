"""The outbox and its sender, against PostgreSQL and real SMTP servers: mail that waits out a
server that is down, mail refused for good, and the mail a creator gets about a video."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import portpicker
import psycopg
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from api.mailer import MAX_ATTEMPTS, Mailer, retry_after
from reelflow.settings import Settings
from storage.catalog import Catalog, EncodingStatus, Role
from tests.fixtures.catalog import publish
from tests.fixtures.mail import Inbox, MailServer, link_token, text

TTL = timedelta(hours=1)


class Refusing:
    """A server that refuses every message for good."""

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        return "550 5.7.1 mailbox unavailable"


@pytest.fixture
def refusing_port() -> Iterator[int]:
    controller = Controller(Refusing(), hostname="127.0.0.1", port=portpicker.pick_unused_port())
    controller.start()
    try:
        yield controller.port
    finally:
        controller.stop()


def mailer(settings: Settings, catalog: Catalog, port: int | None = None) -> Mailer:
    if port is not None:
        settings = settings.model_copy(update={"smtp_port": port})
    return Mailer(settings, catalog)


def outbox(dsn: str) -> list[dict[str, Any]]:
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT kind, attempts, sent_at IS NOT NULL AS sent,"
            " abandoned_at IS NOT NULL AS abandoned, last_error, payload,"
            " next_attempt_at > now() AS later FROM mail_outbox ORDER BY id"
        )
        names = [c.name for c in cur.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def queue_registration(catalog: Catalog, email: str) -> None:
    assert catalog.start_registration(
        email,
        "hash",
        role=Role.VIEWER,
        profile_data={},
        token="the-secret-of-the-link",
        digest=b"d" * 32,
        ttl=TTL,
    )


def test_mail_waits_while_the_server_is_down_and_goes_once_it_is_back(
    dev_stack: Settings, catalog: Catalog, catalog_dsn: str, inbox: Inbox
) -> None:
    queue_registration(catalog, "ann@example.com")

    assert mailer(dev_stack, catalog, portpicker.pick_unused_port()).deliver_due() == 1
    (waiting,) = outbox(catalog_dsn)
    assert (waiting["attempts"], waiting["sent"], waiting["later"]) == (1, False, True)
    assert "cannot reach the SMTP server" in waiting["last_error"]
    # Not due yet: nothing is claimed, by this sender or another.
    assert mailer(dev_stack, catalog).deliver_due() == 0
    with psycopg.connect(catalog_dsn) as conn:
        conn.execute("UPDATE mail_outbox SET next_attempt_at = now()")

    assert mailer(dev_stack, catalog).deliver_due() == 1

    (message,) = inbox.wait_for("ann@example.com")
    assert link_token(message, "confirm.html") == "the-secret-of-the-link"
    (sent,) = outbox(catalog_dsn)
    assert (sent["attempts"], sent["sent"], sent["last_error"]) == (2, True, None)
    # The link's secret is kept no longer than it takes to send it.
    assert sent["payload"] == {}
    assert mailer(dev_stack, catalog).deliver_due() == 0


def test_mail_refused_for_good_is_given_up_and_its_secret_dropped(
    dev_stack: Settings, catalog: Catalog, catalog_dsn: str, refusing_port: int
) -> None:
    queue_registration(catalog, "ann@example.com")

    assert mailer(dev_stack, catalog, refusing_port).deliver_due() == 1

    (given_up,) = outbox(catalog_dsn)
    assert (given_up["sent"], given_up["abandoned"], given_up["payload"]) == (False, True, {})
    assert "550" in given_up["last_error"]


def test_retries_back_off_and_end() -> None:
    delays = [retry_after(attempt) for attempt in range(1, MAX_ATTEMPTS + 1)]

    assert delays[:3] == [timedelta(seconds=30), timedelta(seconds=60), timedelta(seconds=120)]
    assert delays[-2] == timedelta(hours=1)
    assert delays[-1] is None


def test_a_creator_hears_once_that_a_video_is_ready_and_when_one_failed(
    dev_stack: Settings, catalog: Catalog, mail_server: MailServer, inbox: Inbox
) -> None:
    creator = catalog.create_user("maker@example.com", "hash", role=Role.CREATOR)
    ready = catalog.create_video(creator.id, "Holiday in Lisbon")
    broken = catalog.create_video(creator.id, "Truncated")
    catalog.set_encoding_status(ready.id, EncodingStatus.PROCESSING)
    publish(catalog, ready)
    # A later version (captions, a re-encode) is no news.
    publish(catalog, ready, "v2")
    catalog.set_encoding_status(broken.id, EncodingStatus.PROCESSING)
    reason = "corrupt: the file is damaged or truncated"
    catalog.set_encoding_status(broken.id, EncodingStatus.FAILED, reason)
    catalog.set_encoding_status(broken.id, EncodingStatus.FAILED, reason)
    # The address of the moment is used, not the one of when the mail was queued.
    catalog.update_user(creator.id, email="maker@new.example")

    assert mailer(dev_stack, catalog).deliver_due() == 2

    first, second = inbox.wait_for("maker@new.example", 2)
    assert first["Subject"] == "Your video is ready: Holiday in Lisbon"
    assert f"/watch.html?v={ready.id}" in text(first)
    assert second["Subject"] == "Your video could not be processed: Truncated"
    assert reason in text(second)


def test_no_mail_goes_to_a_closed_account(
    dev_stack: Settings, catalog: Catalog, catalog_dsn: str
) -> None:
    creator = catalog.create_user("maker@example.com", "hash", role=Role.CREATOR)
    video = catalog.create_video(creator.id, "Holiday")
    publish(catalog, video)
    catalog.soft_delete_user(creator.id)

    assert mailer(dev_stack, catalog).deliver_due() == 0

    (dropped,) = outbox(catalog_dsn)
    assert (dropped["kind"], dropped["abandoned"], dropped["last_error"]) == (
        "video_ready",
        True,
        "account closed",
    )
