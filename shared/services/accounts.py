"""Accounts: register, one-time codes sent in the background, verify, log in, plans.

Registering an address that has an unverified account again replaces that pending
registration (password, registration id, and the code: the old one dies at once and a new
one is sent); a code verifies only the registration it was sent for. So someone who
registers an address they do not own cannot keep it: the owner registers again and
verifies with the code from their mailbox. A verified address stays 409 ``email-taken``.
Of registrations that run at the same time, the first to be stored wins and the others
get 409: a registration replaces only one stored at least ``REPLACE_AFTER`` (2 s) before
it began (overlapping requests, double submits and instances' clock skew are all inside).

The code is never created or sent inside a request: register and resend only record the
request and enqueue ``{"user_id", "request_id"}`` on ``otp-email``; the queue function
creates the code, stores its HMAC and sends the e-mail. Sending is idempotent per request
(a redelivered message whose e-mail went out is dropped) and a failure raises, so the host
retries and finally moves the message to ``otp-email-poison``.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from shared import telemetry
from shared.auth import IssuedToken, Principal, TokenService
from shared.domain.accounts import (
    AlreadyVerified,
    EmailNotVerified,
    EmailTaken,
    InvalidCredentials,
    InvalidOtp,
    OtpRecord,
    Plan,
    TooManyAttempts,
    User,
    code_matches,
    email_key,
    generate_code,
    hash_code,
    may_request_code,
    validate_email,
    verification_email,
)
from shared.domain.errors import ConcurrencyConflict, Forbidden, NotFound, Unauthorized
from shared.domain.ratelimits import decide
from shared.logging import get_logger
from shared.passwords import PasswordHasher
from shared.ports import (
    Clock,
    LoginLookup,
    Mailer,
    MessageQueue,
    OtpRepository,
    UserRepository,
    Versioned,
)
from shared.queues import OTP_QUEUE as OTP_QUEUE  # re-exported
from shared.services.limits import LOGIN_FAILURES_PER_ACCOUNT, AbuseLimits

_RETRIES = 5
REPLACE_AFTER = timedelta(seconds=2)

log = get_logger("app.accounts")

SendOutcome = Literal["sent", "superseded", "already-sent", "verified", "no-user"]


def user_view(user: User, admin_emails: frozenset[str]) -> dict[str, Any]:
    """The body of GET /api/me and of the admin plan change."""
    return {
        "id": user.id,
        "email": user.email,
        "email_verified": user.email_verified,
        "plan": user.plan,
        "is_admin": email_key(user.email) in admin_emails,
        "created_at": user.created_at,
    }


@dataclass
class AccountService:
    users: UserRepository
    otps: OtpRepository
    otp_queue: MessageQueue
    mailer: Mailer
    passwords: PasswordHasher
    tokens: TokenService
    clock: Clock
    otp_key: bytes
    sender: str
    otp_ttl_seconds: int = 600
    otp_max_attempts: int = 5
    admin_emails: frozenset[str] = frozenset()
    limits: AbuseLimits | None = field(default=None)

    # -- register and codes ------------------------------------------------------------

    def register(self, email: str, password: str, client: str = "") -> User:
        address = validate_email(email)
        if self.limits:
            self.limits.register(client)
        started = self.clock.now()
        password_hash = self.passwords.hash(password)
        now = self.clock.now()
        user = User(
            id=str(uuid.uuid4()),
            email=address,
            password_hash=password_hash,
            email_verified=False,
            plan="basic",
            created_at=now,
            registration_id=uuid.uuid4().hex,
            registered_at=now,
        )
        try:
            self.users.add(user)
            log.info("account registered", extra={"user_id": user.id})
        except EmailTaken:
            user = self._replace_pending(user, started)  # or EmailTaken (409)
        try:
            self._request_code(user.id, user.registration_id, new_registration=True)
        except Exception:
            log.exception("verification e-mail not queued", extra={"user_id": user.id})
        return user

    def _replace_pending(self, new: User, started: datetime) -> User:
        """Put ``new``'s password and registration in place of an unverified account of
        the same address that was stored before this registration began."""
        counted = False
        for _ in range(_RETRIES):
            found = self.users.find_by_email(new.email)
            if found is None:
                raise EmailTaken()  # the index names a registration still being stored
            current = found.value
            if current.email_verified:
                raise EmailTaken()
            if (current.registered_at or current.created_at) > started - REPLACE_AFTER:
                raise EmailTaken()  # stored while this one ran: the earlier request wins
            if self.limits and not counted:
                self.limits.register_again(email_key(new.email))  # each one mails the address
                counted = True
            replaced = replace(
                current, email=new.email, password_hash=new.password_hash,
                created_at=new.created_at, registration_id=new.registration_id,
                registered_at=self.clock.now(),
            )  # fmt: skip
            try:
                self.users.update(replaced, found.etag)
            except ConcurrencyConflict:
                continue  # changed meanwhile: look again (a newer registration gets 409)
            log.info("pending registration replaced", extra={"user_id": current.id})
            return replaced
        raise EmailTaken()

    def resend_otp(self, email: str, client: str = "") -> None:
        """Queue a new code if the account exists, is unverified and was not sent one in
        the last 60 s. Says nothing either way (no account enumeration)."""
        if self.limits:
            self.limits.resend(email_key(email), client)
        found = self.users.find_by_email(email)
        if found is None or found.value.email_verified:
            return
        self._request_code(found.value.id, found.value.registration_id)

    def _request_code(
        self, user_id: str, registration_id: str, *, new_registration: bool = False
    ) -> bool:
        """Record a request for a code of this registration and queue its e-mail. A new
        registration always gets one, in a fresh record (the previous code dies now); a
        resend at most one per 60 s, and the current code lives until the new one is made."""
        for _ in range(_RETRIES if new_registration else 1):
            now = self.clock.now()
            current = self.otps.get(user_id)
            same = current is not None and current.value.registration_id == registration_id
            resend = same and not new_registration
            if resend and current is not None and not may_request_code(current.value, now):
                log.info("code request throttled", extra={"user_id": user_id})
                return False
            request_id = uuid.uuid4().hex
            if current is None or not resend:
                record = OtpRecord(
                    user_id=user_id, code_hash=None, expires_at=None, attempts=0, used=False,
                    requested_at=now, request_id=request_id, registration_id=registration_id,
                )  # fmt: skip
            else:
                record = replace(
                    current.value, requested_at=now, request_id=request_id, sent_at=None
                )
            try:
                self.otps.put(record, current.etag if current else None)
            except ConcurrencyConflict:
                continue  # a simultaneous request won; for a resend, it sends the e-mail
            self.otp_queue.send(json.dumps({"user_id": user_id, "request_id": request_id}))
            return True
        return False

    def send_code(self, message: str) -> SendOutcome:
        """The ``otp-email`` queue handler: create a code, store its HMAC, send it."""
        data = json.loads(message)
        user_id, request_id = str(data["user_id"]), str(data["request_id"])
        telemetry.annotate(user_id=user_id)
        found = self.users.get(user_id)
        if found is None:
            return "no-user"
        if found.value.email_verified:
            return "verified"
        current = self.otps.get(user_id)
        if current is None or current.value.request_id != request_id:
            return "superseded"  # a newer request has its own message
        if current.value.registration_id != found.value.registration_id:
            return "superseded"  # the registration was replaced; its own message follows
        if current.value.sent_at is not None:
            return "already-sent"  # the message was delivered twice
        now = self.clock.now()
        code = generate_code()
        record = replace(
            current.value,
            code_hash=hash_code(self.otp_key, user_id, code, current.value.registration_id),
            expires_at=now + timedelta(seconds=self.otp_ttl_seconds),
            attempts=0,
            used=False,
        )
        etag = self.otps.put(record, current.etag)  # a lost race raises: the host retries
        try:
            self.mailer.send(
                verification_email(self.sender, found.value.email, code, self.otp_ttl_seconds)
            )  # DeliveryFailed raises: retried with a fresh code
        except Exception:
            telemetry.count("otp.emails_failed", mailer=self.mailer.name)
            raise
        telemetry.count("otp.emails_sent", mailer=self.mailer.name)
        with contextlib.suppress(ConcurrencyConflict):  # a resend came in; the mail went out
            self.otps.put(replace(record, sent_at=now), etag)
        log.info("verification e-mail sent", extra={"user_id": user_id, "mailer": self.mailer.name})
        return "sent"

    # -- verify and log in -------------------------------------------------------------

    def verify_email(self, email: str, otp: str) -> User:
        found = self.users.find_by_email(email)
        if found is None:
            raise InvalidOtp()
        if found.value.email_verified:
            raise AlreadyVerified()
        for _ in range(_RETRIES):
            now = self.clock.now()
            current = self.otps.get(found.value.id)
            if current is None:
                raise InvalidOtp()
            record = current.value
            if record.registration_id != found.value.registration_id:
                raise InvalidOtp()  # a code of a registration that was replaced
            if record.attempts >= self.otp_max_attempts:
                raise TooManyAttempts()
            if not record.is_live(now):
                raise InvalidOtp()
            try:
                if code_matches(self.otp_key, record, otp):
                    self.otps.put(replace(record, used=True), current.etag)
                    return self._mark_verified(found)
                self.otps.put(replace(record, attempts=record.attempts + 1), current.etag)
            except ConcurrencyConflict:
                continue  # another attempt changed the record: read it again
            raise InvalidOtp()
        raise ConcurrencyConflict("verification kept racing")

    def _mark_verified(self, found: Versioned[User]) -> User:
        for _ in range(_RETRIES):
            user = replace(found.value, email_verified=True, verified_at=self.clock.now())
            try:
                self.users.update(user, found.etag)
            except ConcurrencyConflict:
                latest = self.users.get(found.value.id)
                if latest is None:
                    raise NotFound("The account no longer exists") from None
                if latest.value.registration_id != found.value.registration_id:
                    raise InvalidOtp() from None  # replaced while this code was checked
                if latest.value.email_verified:
                    return latest.value
                found = latest
                continue
            log.info("e-mail verified", extra={"user_id": user.id})
            return user
        raise ConcurrencyConflict("user kept changing")

    def purge_login_failures(self) -> int:
        """The hourly timer: delete failure states that have run out (every address,
        known or not, leaves one after a wrong password)."""
        purged = self.users.purge_login_failures(self.clock.now())
        log.info("expired login failure counts purged", extra={"count": purged})
        return purged

    def login(self, email: str, password: str, client: str = "") -> IssuedToken:
        limited = self.limits is not None and self.limits.enabled
        if self.limits:
            self.limits.login(client)  # before any hashing
        lookup = self.users.find_for_login(email)
        if limited:  # the address's wrong passwords, read with the account: no extra call
            wait = decide(LOGIN_FAILURES_PER_ACCOUNT, lookup.failures_tat, self._epoch())
            AbuseLimits.refuse_if_waiting(LOGIN_FAILURES_PER_ACCOUNT, wait.retry_after)
        found = lookup.user
        # An account made by social sign-in has no password (""): checked like an unknown
        # address (same time, same answer) until its owner sets one.
        password_hash = (found.value.password_hash or None) if found else None
        if not self.passwords.verify(password_hash, password) or found is None:
            if limited:
                self._count_login_failure(email, lookup)
            raise InvalidCredentials()
        user = found.value
        if not user.email_verified:
            raise EmailNotVerified("Verify your e-mail address with the code we sent first")
        if self.passwords.needs_rehash(user.password_hash):
            upgraded = user.with_password_hash(self.passwords.hash(password))
            with contextlib.suppress(ConcurrencyConflict):  # else upgraded next time
                self.users.update(upgraded, found.etag)
        return self.tokens.issue(user.id, user.email, self.clock.now())

    def _count_login_failure(self, email: str, lookup: LoginLookup) -> None:
        for _ in range(_RETRIES * 2):  # each lost race is another failure counted
            decision = decide(LOGIN_FAILURES_PER_ACCOUNT, lookup.failures_tat, self._epoch())
            if not decision.allowed:
                return  # counted full by concurrent failures: the next try is refused
            try:
                self.users.save_login_failures(email, decision.tat, lookup.failures_etag)
            except ConcurrencyConflict:
                lookup = self.users.find_for_login(email)
                continue
            return

    def _epoch(self) -> float:
        return self.clock.now().timestamp()

    # -- profile and plans ---------------------------------------------------------------

    def me(self, principal: Principal) -> dict[str, Any]:
        found = self.users.get(principal.user_id)
        if found is None:
            raise Unauthorized("The account of this token no longer exists")
        return user_view(found.value, self.admin_emails)

    def list_users(self, principal: Principal, limit: int, cursor: str | None) -> dict[str, Any]:
        """GET /api/users: one page of the user directory, newest first (admins only)."""
        if not principal.is_admin:
            raise Forbidden("Only administrators can list users")
        items, next_cursor = self.users.list_page(limit, cursor)
        return {
            "items": [
                {"id": u.id, "email": u.email, "email_verified": u.email_verified,
                 "plan": u.plan, "created_at": u.created_at}
                for u in items
            ],
            "next_cursor": next_cursor,
        }  # fmt: skip

    def set_plan(self, principal: Principal, user_id: str, plan: Plan) -> dict[str, Any]:
        if not principal.is_admin:
            raise Forbidden("Only administrators can change plans")
        for _ in range(_RETRIES):
            found = self.users.get(user_id)
            if found is None:
                raise NotFound(f"No user {user_id}")
            try:
                self.users.update(replace(found.value, plan=plan), found.etag)
            except ConcurrencyConflict:
                continue
            log.info("plan changed", extra={"target_user": user_id, "plan": plan})
            return user_view(replace(found.value, plan=plan), self.admin_emails)
        raise ConcurrencyConflict("user kept changing")
