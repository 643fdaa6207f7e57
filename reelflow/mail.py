"""Transactional mail: what each message says, and the SMTP server that carries it.

Messages are written from a kind and its payload when they are sent (the catalog's outbox keeps
only those), in plain text, with links to the site's pages. A link's secret travels in the
fragment (`#token=…`), which browsers never send to a server: it stays out of access logs and
`Referer` headers.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable, Mapping
from email.message import EmailMessage
from email.utils import make_msgid
from enum import StrEnum
from typing import Any
from urllib.parse import quote, urlsplit

from reelflow.settings import Settings


class MailKind(StrEnum):
    CONFIRM_REGISTRATION = "confirm_registration"
    # Someone registered an address that has an account: its owner is told, the caller is not.
    ACCOUNT_EXISTS = "account_exists"
    PASSWORD_RESET = "password_reset"
    VIDEO_READY = "video_ready"
    VIDEO_FAILED = "video_failed"
    # To the operations address, sent at once rather than through the outbox.
    RUN_FAILED = "run_failed"
    VIDEOS_STUCK = "videos_stuck"


class MailError(Exception):
    """The server did not take a message; `permanent` when trying again cannot help."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


def _page(settings: Settings, path: str, **fragment: str) -> str:
    link = f"{settings.api_base_url.rstrip('/')}/{path}"
    if fragment:
        link += "#" + "&".join(f"{key}={quote(value)}" for key, value in fragment.items())
    return link


def _confirm_registration(settings: Settings, payload: Mapping[str, Any]) -> tuple[str, str]:
    hours = settings.registration_ttl_s // 3600
    return (
        "Confirm your Reelflow account",
        "Someone, probably you, asked for a Reelflow account with this address.\n\n"
        "To create it, open this link within "
        f"{hours} hours:\n\n"
        f"{_page(settings, 'confirm.html', token=payload['token'])}\n\n"
        "If it was not you, ignore this message: no account is made without the link.\n",
    )


def _account_exists(settings: Settings, payload: Mapping[str, Any]) -> tuple[str, str]:
    return (
        "You already have a Reelflow account",
        "Someone, probably you, tried to create a Reelflow account with this address, which "
        "already has one. Nothing was changed.\n\n"
        f"Sign in: {_page(settings, 'login.html')}\n"
        f"Forgot your password? {_page(settings, 'reset.html')}\n",
    )


def _password_reset(settings: Settings, payload: Mapping[str, Any]) -> tuple[str, str]:
    minutes = settings.password_reset_ttl_s // 60
    return (
        "Reset your Reelflow password",
        "Someone, probably you, asked to reset the password of your Reelflow account.\n\n"
        f"To choose a new one, open this link within {minutes} minutes:\n\n"
        f"{_page(settings, 'reset.html', token=payload['token'])}\n\n"
        "Choosing a new password signs you out everywhere. If it was not you, ignore this "
        "message: your password stays as it is.\n",
    )


def _video_ready(settings: Settings, payload: Mapping[str, Any]) -> tuple[str, str]:
    watch = _page(settings, f"watch.html?v={payload['video_id']}")
    return (
        f"Your video is ready: {payload['title']}",
        f"“{payload['title']}” has been processed and can be watched:\n\n{watch}\n",
    )


def _video_failed(settings: Settings, payload: Mapping[str, Any]) -> tuple[str, str]:
    return (
        f"Your video could not be processed: {payload['title']}",
        f"“{payload['title']}” could not be processed:\n\n"
        f"    {payload['reason']}\n\n"
        "Upload the video again once the file is fixed; until then it is not shown to anyone.\n"
        f"Upload: {_page(settings, 'upload.html')}\n",
    )


def _run_failed(settings: Settings, payload: Mapping[str, Any]) -> tuple[str, str]:
    text = f"Run {payload['run_id']} of job {payload['job']} failed.\n\n"
    for step in payload["steps"]:
        text += f"Step {step['step']} failed:\n{_indented(step['error'])}\n\n"
    if not payload["steps"]:
        text += f"The run failed:\n{_indented(payload['run_error'] or 'no error was recorded')}\n\n"
    if payload.get("will_retry"):
        text += "Dagster will run it again.\n"
    if payload.get("run_url"):
        text += f"Run: {payload['run_url']}\n"
    return f"Run failed: {payload['job']} {payload['run_id']}", text


def _videos_stuck(settings: Settings, payload: Mapping[str, Any]) -> tuple[str, str]:
    hours = payload["threshold_s"] / 3600
    videos = payload["videos"]
    lines = "".join(
        f"- {video['title']} ({video['video_id']}): waiting {video['waiting_s'] / 3600:.1f} h\n"
        for video in videos
    )
    return (
        f"{len(videos)} video(s) processing for more than {hours:g} h",
        f"These videos have been processing for more than {hours:g} h:\n\n{lines}",
    )


def _indented(text: str) -> str:
    return "\n".join(f"    {line}" for line in text.strip().splitlines())


WRITERS: dict[MailKind, Callable[[Settings, Mapping[str, Any]], tuple[str, str]]] = {
    MailKind.CONFIRM_REGISTRATION: _confirm_registration,
    MailKind.ACCOUNT_EXISTS: _account_exists,
    MailKind.PASSWORD_RESET: _password_reset,
    MailKind.VIDEO_READY: _video_ready,
    MailKind.VIDEO_FAILED: _video_failed,
    MailKind.RUN_FAILED: _run_failed,
    MailKind.VIDEOS_STUCK: _videos_stuck,
}


def compose(
    settings: Settings, kind: MailKind, to_address: str, payload: Mapping[str, Any]
) -> EmailMessage:
    """The message of `kind` to `to_address`."""
    subject, text = WRITERS[kind](settings, payload)
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to_address
    message["Subject"] = subject
    domain = urlsplit(settings.api_base_url).hostname or "reelflow.localhost"
    message["Message-ID"] = make_msgid(domain=domain)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text + "\n— Reelflow\n")
    return message


class SmtpSender:
    """Sends messages through the SMTP server of the settings, one connection per batch."""

    def __init__(self, settings: Settings) -> None:
        if not settings.smtp_host:
            raise ValueError("no SMTP server is configured (REELFLOW_SMTP_HOST)")
        self.settings = settings
        self.host = settings.smtp_host

    def open(self) -> smtplib.SMTP:
        """A connection, secured and signed in as the settings say; raises MailError."""
        s = self.settings
        try:
            if s.smtp_security == "tls":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    self.host,
                    s.smtp_port,
                    timeout=s.smtp_timeout_s,
                    context=ssl.create_default_context(),
                )
            else:
                smtp = smtplib.SMTP(self.host, s.smtp_port, timeout=s.smtp_timeout_s)
                if s.smtp_security == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
            if s.smtp_username:
                password = "" if s.smtp_password is None else s.smtp_password.get_secret_value()
                smtp.login(s.smtp_username, password)
        except smtplib.SMTPAuthenticationError as exc:
            raise MailError(
                f"the SMTP server refused the sign-in: {exc.smtp_code}", permanent=False
            ) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(
                f"cannot reach the SMTP server {self.host}: {exc}", permanent=False
            ) from exc
        return smtp

    @staticmethod
    def send(smtp: smtplib.SMTP, message: EmailMessage) -> None:
        """Hand `message` to the server on `smtp`; raises MailError."""
        try:
            refused = smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise MailError(
                f"recipient refused: {codes}", permanent=all(c >= 500 for c in codes)
            ) from exc
        except smtplib.SMTPResponseException as exc:
            raise MailError(
                f"the server answered {exc.smtp_code}", permanent=exc.smtp_code >= 500
            ) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(f"sending failed: {exc}", permanent=False) from exc
        if refused:
            raise MailError(f"recipient refused: {refused}", permanent=True)
