"""The mail sender of an API process: a thread that sends what the outbox holds.

It looks every `mail_poll_s`, and at once when a request of its process has queued mail. Each
API process runs one; the outbox's claims keep them from sending a message twice. A message
the server refuses for good is given up; any other failure is tried again later, backing off,
until `MAX_ATTEMPTS`.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from reelflow.mail import MailError, SmtpSender, compose
from reelflow.settings import Settings
from storage.catalog import Catalog, OutboxMail

log = logging.getLogger(__name__)

BATCH = 20
# Long enough for a batch at the server's timeout; a sender that dies holds its batch this long.
LEASE = timedelta(minutes=5)
MAX_ATTEMPTS = 10
FIRST_RETRY = timedelta(seconds=30)
LAST_RETRY = timedelta(hours=1)


def retry_after(attempts: int) -> timedelta | None:
    """How long after its `attempts`-th failed attempt a message is tried again (None: never)."""
    if attempts >= MAX_ATTEMPTS:
        return None
    return min(FIRST_RETRY * 2 ** (attempts - 1), LAST_RETRY)


class Mailer:
    """Sends the outbox of `catalog` through the SMTP server of `settings`, in a thread."""

    def __init__(self, settings: Settings, catalog: Catalog) -> None:
        self.settings = settings
        self.catalog = catalog
        self.sender = SmtpSender(settings) if settings.smtp_host else None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.sender is None:
            log.warning("no SMTP server is configured: mail waits in the outbox, unsent")
            return
        self._thread = threading.Thread(target=self._run, name="mailer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=self.settings.smtp_timeout_s * 2)

    def wake(self) -> None:
        """Look at the outbox now: a request has just queued mail."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                while self.deliver_due() == BATCH and not self._stop.is_set():
                    pass
            except Exception:
                log.exception(
                    "the mail sender failed; it looks again in %ss", self.settings.mail_poll_s
                )
            self._wake.wait(self.settings.mail_poll_s)

    def deliver_due(self) -> int:
        """Send one batch of due messages; how many were claimed."""
        if self.sender is None:
            return 0
        batch = self.catalog.claim_mail(BATCH, LEASE)
        if not batch:
            return 0
        try:
            smtp = self.sender.open()
        except MailError as exc:
            for mail in batch:
                self._failed(mail, exc)
            return len(batch)
        try:
            for mail in batch:
                try:
                    self.sender.send(
                        smtp, compose(self.settings, mail.kind, mail.address, mail.payload)
                    )
                except MailError as exc:
                    self._failed(mail, exc)
                else:
                    self.catalog.mail_sent(mail.id)
                    log.info("mail %s (%s) sent", mail.id, mail.kind)
        finally:
            try:
                smtp.quit()
            except OSError:  # smtplib's errors too: a server that hung up first
                smtp.close()
        return len(batch)

    def _failed(self, mail: OutboxMail, exc: MailError) -> None:
        retry = None if exc.permanent else retry_after(mail.attempts)
        log.warning(
            "mail %s (%s) not sent, %s: %s",
            mail.id,
            mail.kind,
            "given up" if retry is None else f"tried again in {retry}",
            exc,
        )
        self.catalog.mail_failed(mail.id, str(exc), retry)
