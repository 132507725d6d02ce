"""A verified, signed-in account on a running app, the way a person gets one.

Register, read the code from the outbox folder the app's ``outbox`` mailer writes to
(``EMAIL_OUTBOX_DIR``), verify, log in. For e2e tests and tools that need a bearer token.
"""

from __future__ import annotations

import time
import uuid
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import requests

from shared.domain.accounts import code_from_email

PASSWORD = "correct horse battery"


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


def outbox_messages(folder: Path) -> list[EmailMessage]:
    messages = []
    for path in sorted(folder.glob("*.eml")):
        parsed = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        assert isinstance(parsed, EmailMessage)
        messages.append(parsed)
    return messages


def code_from_outbox(folder: Path, address: str, timeout: float = 30.0) -> str:
    """The code of the newest verification e-mail to ``address``; waits for it to arrive."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if folder.is_dir():
            mine = [m for m in outbox_messages(folder) if str(m["To"]).lower() == address.lower()]
            if mine:
                code = code_from_email(mine[-1])
                assert code is not None, "the verification e-mail has no code"
                return code
        time.sleep(0.05)
    raise AssertionError(f"no e-mail to {address} reached {folder} within {timeout}s")


def verified_account(
    base_url: str, outbox: Path, email: str | None = None, password: str = PASSWORD
) -> tuple[str, str]:
    """(email, access token) of a new verified account."""
    address = email or unique_email()
    registered = requests.post(
        f"{base_url}/api/register", json={"email": address, "password": password}, timeout=15
    )
    assert registered.status_code == 201, registered.text
    code = code_from_outbox(outbox, address)
    verified = requests.post(
        f"{base_url}/api/verify-email", json={"email": address, "otp": code}, timeout=15
    )
    assert verified.status_code == 200, verified.text
    login = requests.post(
        f"{base_url}/api/login", json={"email": address, "password": password}, timeout=15
    )
    assert login.status_code == 200, login.text
    return address, str(login.json()["access_token"])
