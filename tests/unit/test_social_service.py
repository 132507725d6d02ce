"""The social sign-in rules against in-memory fakes and a fake clock (no I/O, no sleeping)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import SecretStr

from shared.adapters.clock import FakeClock
from shared.adapters.memory_accounts import MemoryOtpRepository, MemoryUserRepository
from shared.adapters.memory_ratelimits import MemoryRateLimiter
from shared.adapters.memory_social import (
    MemoryLoginCodes,
    MemoryPendingSignIns,
    MemorySocialLinks,
)
from shared.auth import IssuedToken, TokenService
from shared.domain.accounts import InvalidCredentials, otp_key
from shared.domain.errors import RateLimited
from shared.domain.social import InvalidLoginCode, SignInFailed, claims_email_verified
from shared.passwords import PasswordHasher
from shared.services.accounts import AccountService
from shared.services.limits import SOCIAL_SIGN_IN_PER_CLIENT, AbuseLimits
from shared.services.social import SocialSignInService
from shared.settings import OAuthProvider
from tests.conftest import TEST_SIGNING_KEY
from tests.support.fake_oidc import FakeIdentityProvider, s256
from tests.support.fakes import MemoryQueue, RecordingMailer

REDIRECT = "https://app.example.net/api/auth/local/callback"
PROVIDER = OAuthProvider(
    name="local", display_name="Local", issuer="https://id.example.net", client_id="app",
    client_secret=SecretStr("s3cret"),
)  # fmt: skip
OTHER = OAuthProvider(name="other", display_name="Other", issuer="https://o.example", client_id="x")
PASSWORD = "correct horse battery"


@dataclass
class World:
    service: SocialSignInService
    idp: FakeIdentityProvider
    pending: MemoryPendingSignIns
    codes: MemoryLoginCodes
    users: MemoryUserRepository
    accounts: AccountService
    clock: FakeClock
    limiter: MemoryRateLimiter
    binding: str | None = None  # the browser's binding cookie of the last finish()

    def start(self, binding: str | None = None) -> tuple[str, str, str]:
        """Begin a sign-in: (code, state, binding) as the browser would carry them back."""
        started = self.service.begin("local", REDIRECT, binding, "203.0.113.9")
        code, state = self.idp.code_for(started.location)
        return code, state, started.binding

    def finish(self, **extra: str) -> str:
        code, state, binding = self.start()
        self.binding = binding
        return self.service.complete("local", {"code": code, "state": state, **extra}, binding)

    def exchange(self, login_code: str) -> IssuedToken:
        """POST /api/auth/token from the browser that signed in (its binding cookie)."""
        return self.service.exchange(login_code, self.binding)


@pytest.fixture
def world() -> World:
    clock = FakeClock()
    users = MemoryUserRepository()
    tokens = TokenService(TEST_SIGNING_KEY, 60)
    limiter = MemoryRateLimiter(clock)
    accounts = AccountService(
        users=users, otps=MemoryOtpRepository(), otp_queue=MemoryQueue(),
        mailer=RecordingMailer(), passwords=PasswordHasher(time_cost=1, memory_cost=1024,
                                                           parallelism=1),
        tokens=tokens, clock=clock, otp_key=otp_key(TEST_SIGNING_KEY), sender="n@example.com",
    )  # fmt: skip
    idp, pending, codes = FakeIdentityProvider(), MemoryPendingSignIns(), MemoryLoginCodes()
    service = SocialSignInService(
        providers=(PROVIDER, OTHER), identity=idp, pending=pending, codes=codes, users=users,
        tokens=tokens, clock=clock, limits=AbuseLimits(limiter), links=MemorySocialLinks(),
    )  # fmt: skip
    return World(service, idp, pending, codes, users, accounts, clock, limiter)


def failure(call: object, *args: object, **kwargs: object) -> str:
    with pytest.raises(SignInFailed) as raised:
        call(*args, **kwargs)  # type: ignore[operator]
    return raised.value.slug


def test_providers_are_listed_without_secrets(world: World) -> None:
    assert world.service.list_providers() == [
        {"name": "local", "display_name": "Local"}, {"name": "other", "display_name": "Other"},
    ]  # fmt: skip


def test_begin_sends_state_nonce_and_an_s256_challenge_and_keeps_the_verifier(
    world: World,
) -> None:
    started = world.service.begin("local", REDIRECT, None, "203.0.113.9")
    query = {k: v[0] for k, v in parse_qs(urlsplit(started.location).query).items()}
    (pending,) = world.pending.rows.values()
    assert query["state"] == pending.state and query["nonce"] == pending.nonce
    assert query["code_challenge_method"] == "S256"
    assert query["code_challenge"] == s256(pending.code_verifier)
    assert pending.code_verifier not in started.location
    assert pending.redirect_uri == REDIRECT
    assert started.binding not in pending.binding_hash  # only its hash is stored
    assert len({pending.state, pending.nonce, pending.code_verifier, started.binding}) == 4


def test_a_sign_in_creates_a_verified_account_without_a_password(world: World) -> None:
    login_code = world.finish()
    (exchange,) = world.idp.exchanges
    (request,) = world.idp.requests
    assert s256(exchange["code_verifier"]) == request["code_challenge"]  # PKCE verifier sent
    assert exchange["redirect_uri"] == REDIRECT
    token = world.exchange(login_code)
    claims = TokenService(TEST_SIGNING_KEY, 60).verify(token.access_token, world.clock.now())
    found = world.users.find_by_email("alice@example.com")
    assert found is not None and claims["sub"] == found.value.id
    assert found.value.email_verified is True and found.value.password_hash == ""
    for password in ("", " ", PASSWORD):  # no password logs in to it
        with pytest.raises(InvalidCredentials):
            world.accounts.login("alice@example.com", password or "x")


def test_an_existing_verified_account_is_found_not_duplicated(world: World) -> None:
    world.accounts.register("Alice@Example.com", PASSWORD)
    user = world.users.find_by_email("alice@example.com")
    assert user is not None
    world.users.update(
        user.value.__class__(**{**user.value.__dict__, "email_verified": True}), user.etag
    )
    token = world.exchange(world.finish())
    claims = TokenService(TEST_SIGNING_KEY, 60).verify(token.access_token, world.clock.now())
    assert claims["sub"] == user.value.id
    world.accounts.login("alice@example.com", PASSWORD)  # their password still works


def test_a_pending_registration_is_taken_over_and_its_password_dropped(world: World) -> None:
    squatter = world.accounts.register("alice@example.com", PASSWORD)  # not the owner
    before = world.users.get(squatter.id)
    assert before is not None and before.value.email_verified is False
    token = world.exchange(world.finish())
    after = world.users.get(squatter.id)
    assert after is not None
    assert after.value.email_verified is True and after.value.password_hash == ""
    assert after.value.registration_id != before.value.registration_id  # its code is dead
    claims = TokenService(TEST_SIGNING_KEY, 60).verify(token.access_token, world.clock.now())
    assert claims["sub"] == squatter.id
    with pytest.raises(InvalidCredentials):  # the squatter's password no longer logs in
        world.accounts.login("alice@example.com", PASSWORD)


def test_the_state_is_single_use(world: World) -> None:
    code, state, binding = world.start()
    world.service.complete("local", {"code": code, "state": state}, binding)
    again = failure(world.service.complete, "local", {"code": code, "state": state}, binding)
    assert again == "invalid-state"
    assert len(world.codes.rows) == 1


@pytest.mark.parametrize(
    "tamper",
    [
        lambda s: s[:-1] + ("A" if s[-1] != "A" else "B"),  # one character changed
        lambda s: "",  # missing
        lambda s: s + "x",  # not our shape
        lambda s: "a/b#c?" + s[6:],  # characters Table keys forbid
    ],
)
def test_a_tampered_state_is_refused_and_nothing_is_written(world: World, tamper: object) -> None:
    code, state, binding = world.start()
    params = {"code": code, "state": tamper(state)}  # type: ignore[operator]
    assert failure(world.service.complete, "local", params, binding) == "invalid-state"
    assert world.idp.exchanges == [] and world.codes.rows == {}
    assert world.users.find_by_email("alice@example.com") is None


def test_an_expired_state_is_refused(world: World) -> None:
    code, state, binding = world.start()
    world.clock.advance(seconds=601)
    slug = failure(world.service.complete, "local", {"code": code, "state": state}, binding)
    assert slug == "invalid-state" and world.idp.exchanges == []


def test_a_state_from_another_browser_or_provider_is_refused(world: World) -> None:
    code, state, _ = world.start()
    params = {"code": code, "state": state}
    assert failure(world.service.complete, "local", params, "B" * 43) == "invalid-state"
    code, state, binding = world.start()
    assert failure(world.service.complete, "local", {"code": code, "state": state}, None) == (
        "invalid-state"
    )
    code, state, binding = world.start()
    params = {"code": code, "state": state}
    assert failure(world.service.complete, "other", params, binding) == "invalid-state"
    assert world.idp.exchanges == []


def test_two_sign_ins_in_one_browser_share_the_binding(world: World) -> None:
    first_code, first_state, binding = world.start()
    second = world.service.begin("local", REDIRECT, binding, "203.0.113.9")
    assert second.binding == binding
    second_code, second_state = world.idp.code_for(second.location)
    world.service.complete("local", {"code": second_code, "state": second_state}, binding)
    world.service.complete("local", {"code": first_code, "state": first_state}, binding)


def test_a_nonce_mismatch_is_refused(world: World) -> None:
    world.idp.nonce_override = "a-replayed-id-token-nonce"
    assert failure(world.finish) == "provider-error"
    assert world.codes.rows == {} and world.users.find_by_email("alice@example.com") is None


def test_an_unverified_email_is_refused(world: World) -> None:
    world.idp.email_verified = False
    assert failure(world.finish) == "email-not-verified"
    world.idp.email_verified, world.idp.email = True, None
    assert failure(world.finish) == "email-not-verified"
    assert world.codes.rows == {} and world.users.find_by_email("alice@example.com") is None


def test_a_refusal_by_the_user_or_provider(world: World) -> None:
    _, state, binding = world.start()
    params = {"error": "access_denied", "state": state}
    assert failure(world.service.complete, "local", params, binding) == "access-denied"
    _, state, binding = world.start()
    params = {"error": "server_error", "state": state}
    assert failure(world.service.complete, "local", params, binding) == "provider-error"
    assert failure(world.finish, iss="https://evil.example") == "provider-error"  # RFC 9207
    assert world.codes.rows == {}


def test_an_unknown_provider(world: World) -> None:
    assert failure(world.service.begin, "nope", REDIRECT, None) == "unknown-provider"
    assert world.pending.rows == {}


def test_the_login_code_is_single_use_and_lives_60_seconds(world: World) -> None:
    login_code = world.finish()
    world.exchange(login_code)
    with pytest.raises(InvalidLoginCode):
        world.exchange(login_code)
    late = world.finish()
    world.clock.advance(seconds=61)
    with pytest.raises(InvalidLoginCode):
        world.exchange(late)
    for bad in ("", "x" * 43, "not a code"):
        with pytest.raises(InvalidLoginCode):
            world.exchange(bad)
    assert all(len(h) == 64 for h in world.codes.rows)  # only hashes are stored
    assert late not in world.codes.rows


def test_social_sign_in_is_limited_per_client(world: World) -> None:
    for _ in range(SOCIAL_SIGN_IN_PER_CLIENT.limit):
        world.service.begin("local", REDIRECT, None, "198.51.100.7")
    with pytest.raises(RateLimited) as raised:
        world.service.begin("local", REDIRECT, None, "198.51.100.7")
    assert int(raised.value.headers["Retry-After"]) > 0
    world.service.begin("local", REDIRECT, None, "198.51.100.8")  # another client
    with pytest.raises(RateLimited):
        world.service.complete("local", {}, None, "198.51.100.7")  # the callback counts too
    world.clock.advance(timedelta(minutes=5).total_seconds())
    world.service.begin("local", REDIRECT, None, "198.51.100.7")


@pytest.mark.parametrize(
    ("claims", "verified"),
    [
        ({"email_verified": True}, True),
        ({"email_verified": "true"}, True),
        ({"email_verified": False}, False),
        ({"email_verified": "false"}, False),
        ({}, False),
        ({"xms_edov": True}, True),  # Entra ID's optional claim
        ({"email_verified": 1}, False),  # not a boolean: not trusted
    ],
)
def test_which_claims_mean_a_verified_address(claims: dict[str, object], verified: bool) -> None:
    assert claims_email_verified(claims) is verified


def test_item1_login_code_from_another_browser_is_refused(world: World) -> None:
    """Login CSRF: the code is bound to the browser that started the sign-in. Presented
    without that browser's binding cookie, or with another browser's, it is refused and
    used up (the attacker cannot retry it from elsewhere); the right browser signs in."""
    attacker_code = world.finish()
    attacker_binding = world.binding
    _, _, victim_binding = world.start()  # the victim's browser has a binding of its own
    for binding in (None, victim_binding, "", "x" * 43):
        code = world.finish()
        with pytest.raises(InvalidLoginCode):
            world.service.exchange(code, binding)
        with pytest.raises(InvalidLoginCode):  # used up by the refused try
            world.service.exchange(code, world.binding)
    world.service.exchange(attacker_code, attacker_binding)  # its own browser: signed in


def test_item4_accounts_are_linked_by_issuer_and_subject_not_by_e_mail_alone(
    world: World,
) -> None:
    """Issue 18, item 4. The first sign-in of an identity finds the account by its
    verified e-mail (or creates it) and links (issuer, subject) to it. Later: the same
    subject signs in to that account even after changing its address at the provider;
    another subject with the address of an account already linked at that issuer (the
    provider gave the address to someone else) is refused, ``identity-mismatch``; the
    same subject at another issuer links on its own."""
    claims = TokenService(TEST_SIGNING_KEY, 60)
    first = world.exchange(world.finish())
    alice = claims.verify(first.access_token, world.clock.now())["sub"]
    world.idp.email = "alice.new@example.com"  # changed at the provider: same person
    moved = world.exchange(world.finish())
    assert claims.verify(moved.access_token, world.clock.now())["sub"] == alice
    assert world.users.find_by_email("alice.new@example.com") is None  # no second account
    world.idp.email, world.idp.subject = "alice@example.com", "sub-2"  # address recycled
    assert failure(world.finish) == "identity-mismatch"
    assert world.codes.rows == {}  # no login code for it
    world.idp.email, world.idp.subject = "bob@example.com", "sub-2"  # a new person
    bob = world.exchange(world.finish())
    assert claims.verify(bob.access_token, world.clock.now())["sub"] != alice
