"""The dev stack's mail sink: an SMTP server on loopback that keeps every message in a Maildir.

It is aiosmtpd's own server and `Mailbox` handler, so the API sends mail locally exactly as it
does to a relay in production. Messages land in `.state/mail-sink/maildir/new/`, one file each,
readable with any mail client or `reelflow devstack mail`.
"""

from __future__ import annotations

import mailbox
import smtplib
import sys
from pathlib import Path

from devstack.network import HOST, port_open
from devstack.service import Service, ServiceError


class MailSink(Service):
    """aiosmtpd on the port of `settings.smtp_port`, writing a Maildir."""

    name = "mail-sink"
    start_timeout_s = 15.0

    @property
    def port(self) -> int:
        if self.settings.smtp_host != HOST or self.settings.smtp_security != "none":
            raise ServiceError(
                f"mail-sink: the dev stack's sink is plain SMTP on {HOST}; REELFLOW_SMTP_HOST and "
                "REELFLOW_SMTP_SECURITY name another server"
            )
        return self.settings.smtp_port

    @property
    def endpoint(self) -> str:
        return f"smtp://{HOST}:{self.port}"

    @property
    def maildir(self) -> Path:
        return self.dir / "maildir"

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "aiosmtpd",
            "--nosetuid",
            "--listen",
            f"{HOST}:{self.port}",
            "--class",
            "aiosmtpd.handlers.Mailbox",
            str(self.maildir),
        ]

    def is_ready(self) -> bool:
        if not port_open(self.port):
            return False
        try:
            with smtplib.SMTP(HOST, self.port, timeout=1.0) as smtp:
                return smtp.noop()[0] == 250
        except OSError:
            return False

    def messages(self) -> list[mailbox.MaildirMessage]:
        """Every message the sink has kept, oldest first."""
        if not self.maildir.exists():
            return []
        box = mailbox.Maildir(self.maildir, create=False)
        messages = [box[key] for key in box.keys()]
        return sorted(messages, key=lambda message: message.get_date())
