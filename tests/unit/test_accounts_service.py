"""The account rules against in-memory fakes and a fake clock (no I/O, no sleeping)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from shared.adapters.clock import FakeClock
from shared.adapters.memory_accounts import MemoryOtpRepository, MemoryUserRepository
from shared.adapters.memory_ratelimits import MemoryRateLimiter
from shared.auth import Principal, TokenService
from shared.domain.accounts import (
    AlreadyVerified,
    EmailNotVerified,
    EmailTaken,
    InvalidCredentials,
    InvalidOtp,
    TooManyAttempts,
    code_from_email,
    otp_key,
)
from shared.domain.errors import (
    DeliveryFailed,
    Forbidden,
    NotFound,
    RateLimited,
    ValidationFailed,
)
from shared.passwords import PasswordHasher
from shared.services.accounts import AccountService
from shared.services.limits import AbuseLimits
from tests.conftest import TEST_SIGNING_KEY
from tests.support.fakes import MemoryQueue, RecordingMailer

FAST_ARGON2 = {"time_cost": 1, "memory_cost": 1024, "parallelism": 1}
PASSWORD = "correct horse battery"


@dataclass
class World:
    service: AccountService
    users: MemoryUserRepository
    otps: MemoryOtpRepository
    queue: MemoryQueue
    mailer: RecordingMailer
    clock: FakeClock

    def deliver(self) -> list[str]:
        """Run the queue function for every queued message, as the host would."""
        outcomes = [self.service.send_code(body) for body in self.queue.bodies()]
        self.queue.messages.clear()
        return outcomes

    def last_code(self) -> str:
        code = code_from_email(self.mailer.sent[-1])
        assert code is not None
        return code


@pytest.fixture
def world() -> World:
    clock = FakeClock()
    users, otps, queue, mailer = (
        MemoryUserRepository(), MemoryOtpRepository(), MemoryQueue(), RecordingMailer()
    )  # fmt: skip
    service = AccountService(
        users=users,
        otps=otps,
        otp_queue=queue,
        mailer=mailer,
        passwords=PasswordHasher(**FAST_ARGON2),
        tokens=TokenService(TEST_SIGNING_KEY, 60),
        clock=clock,
        otp_key=otp_key(TEST_SIGNING_KEY),
        sender="no-reply@example.com",
        otp_ttl_seconds=600,
        otp_max_attempts=5,
        admin_emails=frozenset({"boss@example.com"}),
    )
    return World(service, users, otps, queue, mailer, clock)


def registered(world: World, email: str = "ann@example.com") -> str:
    user = world.service.register(email, PASSWORD)
    world.deliver()
    return user.id


def test_register_queues_a_message_without_the_code(world: World) -> None:
    user = world.service.register("Ann@Example.com", PASSWORD)
    assert user.email_verified is False
    assert world.mailer.sent == []  # nothing sent inside the request
    (body,) = world.queue.bodies()
    assert set(json.loads(body)) == {"user_id", "request_id"}
    assert world.deliver() == ["sent"]
    message = world.mailer.sent[0]
    assert "verification code" in message["Subject"]
    assert message["To"] == "Ann@example.com"
    code = world.last_code()
    record = world.otps.get(user.id)
    assert record is not None
    assert code not in json.dumps(record.value.__dict__, default=str)  # only its HMAC


def test_password_is_stored_as_argon2id(world: World) -> None:
    user = world.service.register("ann@example.com", PASSWORD)
    stored = world.users.get(user.id)
    assert stored is not None
    assert stored.value.password_hash.startswith("$argon2id$")
    assert PASSWORD not in stored.value.password_hash


@pytest.mark.parametrize("other", ["ann@example.com", "ANN@EXAMPLE.COM", " Ann@example.com "])
def test_one_account_per_address_in_any_case(world: World, other: str) -> None:
    registered(world)
    world.service.verify_email("ann@example.com", world.last_code())
    world.clock.advance(1)
    with pytest.raises(EmailTaken):
        world.service.register(other, PASSWORD)


def test_a_registration_stored_while_another_ran_wins_over_it(world: World) -> None:
    # Two registrations that began at the same instant (or within 2 s): the first stays.
    first = world.service.register("ann@example.com", PASSWORD)
    with pytest.raises(EmailTaken):
        world.service.register("ANN@example.com", "another password")
    world.clock.advance(1.9)
    with pytest.raises(EmailTaken):
        world.service.register("ANN@example.com", "another password")
    stored = world.users.get(first.id)
    assert stored is not None
    assert stored.value.registration_id == first.registration_id


def test_registering_an_unverified_address_again_takes_it_back_from_a_squatter(
    world: World,
) -> None:
    squatter = world.service.register("ann@example.com", "squatter password")
    world.deliver()
    squatters_code = world.last_code()  # (in Ann's mailbox, but say it leaked)
    world.clock.advance(5)
    owner = world.service.register("Ann@example.com", PASSWORD)
    assert owner.id == squatter.id  # the same pending account, a new registration
    assert owner.registration_id != squatter.registration_id
    assert world.deliver() == ["sent"]  # a new code at once, despite the 60 s throttle
    owners_code = world.last_code()
    if owners_code == squatters_code:
        pytest.skip("the same six digits drawn twice")
    with pytest.raises(InvalidOtp):
        world.service.verify_email("ann@example.com", squatters_code)
    assert world.service.verify_email("ann@example.com", owners_code).email_verified
    world.service.login("ann@example.com", PASSWORD)
    with pytest.raises(InvalidCredentials):
        world.service.login("ann@example.com", "squatter password")
    world.clock.advance(5)
    with pytest.raises(EmailTaken):  # verified: nobody replaces it any more
        world.service.register("ann@example.com", "squatter password")


def test_the_old_registrations_code_dies_before_the_new_one_is_sent(world: World) -> None:
    registered(world)
    old = world.last_code()
    world.clock.advance(5)
    world.service.register("ann@example.com", "new password 123")
    with pytest.raises(InvalidOtp):  # the new e-mail has not gone out yet
        world.service.verify_email("ann@example.com", old)


def test_a_message_of_a_replaced_registration_sends_nothing(world: World) -> None:
    world.service.register("ann@example.com", PASSWORD)
    (first,) = world.queue.bodies()
    world.clock.advance(5)
    world.service.register("ann@example.com", "new password 123")
    assert world.service.send_code(first) == "superseded"
    assert world.mailer.sent == []


@pytest.mark.parametrize(
    "email",
    ["not-an-email", "a@b", "ann@@example.com", "ann@exa mple.test", "a/b@example.com",
     "a#b@example.com", "a?b@example.com", "a\x7fb@example.com", "a\x85b@example.com"],
)  # fmt: skip
def test_invalid_addresses_are_refused_with_a_field_error(world: World, email: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        world.service.register(email, PASSWORD)
    assert caught.value.errors[0].field == "email"
    assert world.queue.bodies() == []


def test_the_right_code_verifies_once(world: World) -> None:
    registered(world)
    code = world.last_code()
    user = world.service.verify_email("ANN@example.com", code)
    assert user.email_verified is True
    with pytest.raises(AlreadyVerified):
        world.service.verify_email("ann@example.com", code)


def test_five_wrong_codes_kill_the_code(world: World) -> None:
    registered(world)
    code = world.last_code()
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(5):
        with pytest.raises(InvalidOtp):
            world.service.verify_email("ann@example.com", wrong)
    with pytest.raises(TooManyAttempts):
        world.service.verify_email("ann@example.com", wrong)
    with pytest.raises(TooManyAttempts):
        world.service.verify_email("ann@example.com", code)  # dead, even when right


def test_an_expired_code_is_refused(world: World) -> None:
    registered(world)
    code = world.last_code()
    world.clock.advance(600)
    with pytest.raises(InvalidOtp):
        world.service.verify_email("ann@example.com", code)


def test_a_code_is_valid_until_just_before_expiry(world: World) -> None:
    registered(world)
    code = world.last_code()
    world.clock.advance(599)
    assert world.service.verify_email("ann@example.com", code).email_verified


def test_a_replaced_code_is_refused_and_the_new_one_works(world: World) -> None:
    registered(world)
    old = world.last_code()
    world.clock.advance(61)
    world.service.resend_otp("ann@example.com")
    assert world.deliver() == ["sent"]
    new = world.last_code()
    if new == old:  # one in a million: the same six digits drawn twice
        pytest.skip("the new code equals the old one")
    with pytest.raises(InvalidOtp):
        world.service.verify_email("ann@example.com", old)
    assert world.service.verify_email("ann@example.com", new).email_verified


def test_resend_is_throttled_to_one_email_per_minute(world: World) -> None:
    registered(world)
    world.clock.advance(30)
    world.service.resend_otp("ann@example.com")
    assert world.queue.bodies() == []
    world.clock.advance(30)
    world.service.resend_otp("ann@example.com")
    assert len(world.queue.bodies()) == 1


def test_resend_for_unknown_or_verified_accounts_does_nothing(world: World) -> None:
    world.service.resend_otp("nobody@example.com")
    registered(world)
    world.service.verify_email("ann@example.com", world.last_code())
    world.clock.advance(120)
    world.service.resend_otp("ann@example.com")
    assert world.queue.bodies() == []


def test_a_message_delivered_twice_sends_one_email(world: World) -> None:
    world.service.register("ann@example.com", PASSWORD)
    (body,) = world.queue.bodies()
    assert world.service.send_code(body) == "sent"
    assert world.service.send_code(body) == "already-sent"
    assert len(world.mailer.sent) == 1


def test_a_superseded_message_sends_nothing(world: World) -> None:
    world.service.register("ann@example.com", PASSWORD)
    (first,) = world.queue.bodies()
    world.clock.advance(61)
    world.service.resend_otp("ann@example.com")
    assert world.service.send_code(first) == "superseded"
    assert world.mailer.sent == []


def test_a_failed_send_raises_and_the_retry_sends_a_working_code(world: World) -> None:
    world.service.register("ann@example.com", PASSWORD)
    (body,) = world.queue.bodies()
    world.mailer.failures_left = 1
    with pytest.raises(DeliveryFailed):
        world.service.send_code(body)
    assert world.service.send_code(body) == "sent"  # the host's retry
    assert world.service.verify_email("ann@example.com", world.last_code()).email_verified


def test_login_needs_a_verified_account_and_the_right_password(world: World) -> None:
    registered(world)
    with pytest.raises(EmailNotVerified):
        world.service.login("ann@example.com", PASSWORD)
    world.service.verify_email("ann@example.com", world.last_code())
    token = world.service.login("ANN@example.com", PASSWORD)
    claims = world.service.tokens.verify(token.access_token, world.clock.now())
    assert claims["email"] == "ann@example.com"
    assert token.expires_in == 3600


def test_unknown_email_and_wrong_password_answer_alike(world: World) -> None:
    registered(world)
    world.service.verify_email("ann@example.com", world.last_code())
    with pytest.raises(InvalidCredentials) as wrong:
        world.service.login("ann@example.com", "wrong password")
    with pytest.raises(InvalidCredentials) as unknown:
        world.service.login("nobody@example.com", PASSWORD)
    assert (wrong.value.slug, wrong.value.detail) == (unknown.value.slug, unknown.value.detail)


def test_login_rehashes_when_the_parameters_change(world: World) -> None:
    user_id = registered(world)
    world.service.verify_email("ann@example.com", world.last_code())
    before = world.users.get(user_id)
    assert before is not None
    world.service.passwords = PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1)
    world.service.login("ann@example.com", PASSWORD)
    after = world.users.get(user_id)
    assert after is not None
    assert after.value.password_hash != before.value.password_hash
    assert "t=2" in after.value.password_hash
    world.service.login("ann@example.com", PASSWORD)  # the new hash verifies


def test_me_and_admin_plan_changes(world: World) -> None:
    ann = registered(world)
    me = world.service.me(Principal(ann, "ann@example.com"))
    assert me["plan"] == "basic"
    assert me["is_admin"] is False
    with pytest.raises(Forbidden):
        world.service.set_plan(Principal(ann, "ann@example.com"), ann, "premium")
    boss = Principal("boss-id", "boss@example.com", is_admin=True)
    assert world.service.set_plan(boss, ann, "premium")["plan"] == "premium"
    assert world.service.me(Principal(ann, "ann@example.com"))["plan"] == "premium"
    with pytest.raises(NotFound):
        world.service.set_plan(boss, "no-such-user", "premium")


def test_login_is_two_point_reads(world: World) -> None:
    registered(world)
    world.service.verify_email("ann@example.com", world.last_code())
    world.users.reads = 0
    world.service.login("ann@example.com", PASSWORD)
    assert world.users.reads == 2


# -- GET /api/users: administrators only, newest first, paged --------------------------

LIST_ADMIN = Principal("boss-id", "boss@example.com", is_admin=True)


def test_only_administrators_list_users(world: World) -> None:
    ann = registered(world)
    with pytest.raises(Forbidden):
        world.service.list_users(Principal(ann, "ann@example.com"), 20, None)


def test_the_list_is_paged_newest_first_with_the_listed_fields(world: World) -> None:
    ids = []
    for n in range(5):
        ids.append(registered(world, f"user{n}@example.com"))
        world.clock.advance(1)
    world.service.set_plan(LIST_ADMIN, ids[0], "premium")
    first = world.service.list_users(LIST_ADMIN, 3, None)
    assert [u["id"] for u in first["items"]] == ids[::-1][:3]
    assert set(first["items"][0]) == {"id", "email", "email_verified", "plan", "created_at"}
    rest = world.service.list_users(LIST_ADMIN, 3, first["next_cursor"])
    assert [u["id"] for u in rest["items"]] == ids[::-1][3:]
    assert rest["next_cursor"] is None
    assert rest["items"][-1]["plan"] == "premium"
    assert rest["items"][-1]["email"] == "user0@example.com"


def test_listing_is_one_directory_read_per_page(world: World) -> None:
    for n in range(3):
        registered(world, f"user{n}@example.com")
    world.users.reads = 0
    world.service.list_users(LIST_ADMIN, 100, None)
    assert world.users.reads == 1


# -- abuse limits (the memory fake of the RateLimiter port) ---------------------------------


@pytest.fixture
def limited(world: World) -> World:
    world.service.limits = AbuseLimits(MemoryRateLimiter(world.clock))
    return world


def test_the_sixth_quick_wrong_password_is_refused_and_so_is_the_right_one(
    limited: World,
) -> None:
    world = limited
    registered(world)
    world.service.verify_email("ann@example.com", world.last_code())
    for _ in range(5):
        with pytest.raises(InvalidCredentials):
            world.service.login("ann@example.com", "wrong password", "203.0.113.7")
    with pytest.raises(RateLimited) as refused:
        world.service.login("ANN@example.com", "wrong password", "198.51.100.1")
    assert refused.value.headers["Retry-After"] == "180"  # one more try every 3 minutes
    with pytest.raises(RateLimited):  # else a 200 would tell the guesser a guess was right
        world.service.login("ann@example.com", PASSWORD, "198.51.100.1")
    world.clock.advance(180)
    world.service.login("ann@example.com", PASSWORD)  # a right password does not count


def test_a_right_password_costs_the_limits_one_count_of_the_client(limited: World) -> None:
    registered(limited)
    limited.service.verify_email("ann@example.com", limited.last_code())
    limiter = limited.service.limits.limiter  # type: ignore[union-attr]
    limiter.hits.clear()  # type: ignore[attr-defined]
    limited.users.reads = 0
    limited.service.login("ann@example.com", PASSWORD, "203.0.113.7")
    assert limiter.hits == [("login-client", "203.0.113.7", True)]  # type: ignore[attr-defined]
    assert limited.users.reads == 2  # the account's failures came with the account


def test_unknown_addresses_lock_like_known_ones(limited: World) -> None:
    for _ in range(5):
        with pytest.raises(InvalidCredentials):
            limited.service.login("nobody@example.com", PASSWORD, "203.0.113.7")
    with pytest.raises(RateLimited):
        limited.service.login("nobody@example.com", PASSWORD, "203.0.113.7")


def test_right_passwords_are_not_counted_against_the_account(limited: World) -> None:
    registered(limited)
    limited.service.verify_email("ann@example.com", limited.last_code())
    for index in range(20):  # from many clients: only the client limit counts attempts
        limited.service.login("ann@example.com", PASSWORD, f"203.0.113.{index}")


def test_logins_per_client_are_limited(limited: World) -> None:
    for index in range(30):
        with pytest.raises(InvalidCredentials):
            limited.service.login(f"u{index}@example.com", PASSWORD, "203.0.113.7")
    with pytest.raises(RateLimited) as refused:
        limited.service.login("u99@example.com", PASSWORD, "203.0.113.7")
    assert refused.value.headers["Retry-After"] == "10"
    with pytest.raises(InvalidCredentials):  # another client is not affected
        limited.service.login("u99@example.com", PASSWORD, "203.0.113.8")


def test_registrations_per_client_and_per_address_are_limited(limited: World) -> None:
    service = limited.service
    for index in range(10):
        service.register(f"u{index}@example.com", PASSWORD, "203.0.113.7")
    with pytest.raises(RateLimited):
        service.register("u10@example.com", PASSWORD, "203.0.113.7")
    limited.clock.advance(1)
    for index in range(6):  # registered, then again from many clients: 5 more an hour
        limited.clock.advance(3)
        service.register("ann@example.com", PASSWORD, f"198.51.100.{index}")
    limited.clock.advance(3)
    with pytest.raises(RateLimited):
        service.register("ANN@example.com", PASSWORD, "198.51.100.99")


def test_resends_per_client_and_per_address_are_limited(limited: World) -> None:
    service = limited.service
    for index in range(10):
        service.resend_otp(f"u{index}@example.com", "203.0.113.7")
    with pytest.raises(RateLimited):
        service.resend_otp("u10@example.com", "203.0.113.7")
    for index in range(5):  # unknown or not, an address is limited alike
        service.resend_otp("nobody@example.com", f"198.51.100.{index}")
    with pytest.raises(RateLimited):
        service.resend_otp("nobody@example.com", "198.51.100.99")


def test_refused_requests_store_and_send_nothing(limited: World) -> None:
    for index in range(10):
        limited.service.register(f"u{index}@example.com", PASSWORD, "203.0.113.7")
    queued = len(limited.queue.bodies())
    with pytest.raises(RateLimited):
        limited.service.register("late@example.com", PASSWORD, "203.0.113.7")
    assert limited.users.find_by_email("late@example.com") is None
    assert len(limited.queue.bodies()) == queued


@pytest.mark.parametrize("email", ["a/b@example.com", "a#b@x.com", "a?b@x.com", "a\\b@x.com",
                                   "a\x00b@x.com", "a\x1fb@x.com", "a\x9fb@x.com",
                                   "ab@x.com\x1f", "\x85ab@x.com"])  # fmt: skip
def test_addresses_with_characters_table_keys_forbid_are_unknown_accounts(
    world: World, email: str
) -> None:
    with pytest.raises(InvalidCredentials):
        world.service.login(email, PASSWORD)
    world.service.resend_otp(email)
    with pytest.raises(InvalidOtp):
        world.service.verify_email(email, "123456")
    with pytest.raises(ValidationFailed):
        world.service.register(email, PASSWORD)
    assert world.queue.bodies() == []
