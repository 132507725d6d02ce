"""Show the newest e-mails of the local outbox (EMAIL_PROVIDER=outbox), codes first.

python -m devtools.outbox [--folder .outbox] [--count 5]      # or: make outbox
"""

from __future__ import annotations

import argparse
import email
import email.policy
import sys
from email.message import EmailMessage
from pathlib import Path

from shared.domain.accounts import code_from_email

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, default=ROOT / ".outbox")
    parser.add_argument("--count", type=int, default=5)
    args = parser.parse_args(argv)
    files = sorted(args.folder.glob("*.eml"))[-args.count :]
    if not files:
        print(f"no e-mails in {args.folder}", file=sys.stderr)
        return 1
    for path in files:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        code = code_from_email(message) or "-"
        print(f"{message['Date']}  to {message['To']}  code {code}  ({path.name})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
