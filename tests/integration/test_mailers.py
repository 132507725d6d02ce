"""One contract for the mail port, run against the outbox and a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from devtools.azurite import free_port
from shared.adapters.mail_outbox import OutboxMailer
from shared.adapters.mail_smtp import SmtpMailer
from shared.domain.accounts import code_from_email, verification_email
from shared.domain.errors import DeliveryFailed
from shared.ports import Mailer
from tests.support.smtp import SmtpServer


class Delivered:
    """A mailer under test and a way to read back what reached the other side."""

    def __init__(self, mailer: Mailer, read: Callable[[], list[EmailMessage]]) -> None:
        self.mailer = mailer
        self.read = read


@pytest.fixture(params=["outbox", "smtp"])
def delivered(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Delivered]:
    if request.param == "outbox":
        folder = tmp_path / "outbox"

        def read_outbox() -> list[EmailMessage]:
            return [
                email.message_from_bytes(p.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
                for p in sorted(folder.glob("*.eml"))
            ]

        yield Delivered(OutboxMailer(folder), read_outbox)
        return
    with SmtpServer() as server:
        yield Delivered(SmtpMailer("127.0.0.1", server.port, timeout=5), server.messages)


def test_a_verification_email_arrives_whole(delivered: Delivered) -> None:
    delivered.mailer.send(
        verification_email("no-reply@weather-jobs.example", "ann@example.com", "042917", 600)
    )
    (received,) = delivered.read()
    assert "verification code" in received["Subject"].lower()
    assert received["From"] == "no-reply@weather-jobs.example"
    assert received["To"] == "ann@example.com"
    assert code_from_email(received) == "042917"
    html = received.get_body(preferencelist=("html",))
    assert html is not None
    assert "042917" in html.get_content()
    assert "10 minutes" in received.get_body(preferencelist=("plain",)).get_content()


def test_several_messages_are_kept_apart(delivered: Delivered) -> None:
    for code in ("111111", "222222"):
        delivered.mailer.send(verification_email("s@example.com", "ann@example.com", code, 600))
    assert [code_from_email(m) for m in delivered.read()] == ["111111", "222222"]


@pytest.mark.parametrize(
    "recipient", ["ann@example.com\r\nBcc: victim@example.com", "ann@example.com\nX-Evil: 1"]
)
def test_no_header_can_be_injected(recipient: str) -> None:
    with pytest.raises(ValueError):
        verification_email("s@example.com", recipient, "123456", 600)


def test_smtp_down_raises_delivery_failed() -> None:
    mailer = SmtpMailer("127.0.0.1", free_port(), timeout=2)
    with pytest.raises(DeliveryFailed, match="SMTP delivery"):
        mailer.send(verification_email("s@example.com", "ann@example.com", "123456", 600))


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_smtp_login_when_configured() -> None:
    with SmtpServer(credentials=("mailer", "s3cret")) as server:
        SmtpMailer("127.0.0.1", server.port, username="mailer", password="s3cret").send(
            verification_email("s@example.com", "ann@example.com", "123456", 600)
        )
        assert len(server.messages()) == 1
        with pytest.raises(DeliveryFailed):
            SmtpMailer("127.0.0.1", server.port, username="mailer", password="wrong").send(
                verification_email("s@example.com", "ann@example.com", "123456", 600)
            )


def test_outbox_that_cannot_be_written_raises(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(DeliveryFailed):
        OutboxMailer(blocker / "outbox").send(
            verification_email("s@example.com", "ann@example.com", "123456", 600)
        )
