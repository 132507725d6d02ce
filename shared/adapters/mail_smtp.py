"""Mail over SMTP with the standard library: STARTTLS and login when configured, timeouts.

Port 465 means implicit TLS (SMTPS); otherwise plain SMTP, upgraded with STARTTLS when
``SMTP_STARTTLS`` is true. Any failure raises DeliveryFailed, so the queue retries.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

from shared.domain.errors import DeliveryFailed


class SmtpMailer:
    name = "smtp"

    def __init__(
        self,
        host: str,
        port: int,
        *,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        timeout: float = 10.0,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self._password = password
        self.starttls = starttls
        self.timeout = timeout

    def send(self, message: EmailMessage) -> None:
        try:
            if self.port == 465:
                client: smtplib.SMTP = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout,
                    context=ssl.create_default_context(),
                )  # fmt: skip
            else:
                client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with client:
                if self.starttls and self.port != 465:
                    client.starttls(context=ssl.create_default_context())
                    client.ehlo()
                if self.username:
                    client.login(self.username, self._password or "")
                refused = client.send_message(message)
                if refused:
                    raise DeliveryFailed(f"recipients refused: {sorted(refused)}")
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryFailed(
                f"SMTP delivery via {self.host}:{self.port} failed: {type(exc).__name__}"
            ) from exc
