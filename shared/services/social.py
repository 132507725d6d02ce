"""Social sign-in: OpenID Connect authorization code flow with PKCE, state and nonce.

``begin`` stores a pending sign-in under a fresh ``state`` (with the nonce, the PKCE
verifier, the redirect URI and the SHA-256 of a browser-binding cookie) and answers the
provider's authorization URL. ``complete`` takes that pending sign-in once (read and
deleted under its ETag, so a replayed or tampered state fails), refuses it from another
browser (the cookie must match: login CSRF), has the code exchanged and the ID token
checked by the IdentityProvider port, and requires the provider's ``email_verified``.
The account is found by that address, or created verified with no password; a pending
(unverified) registration of the address is taken over: the provider has just proved
who owns the mailbox, so the password someone set while registering it is dropped and
its code dies (docs/api.md, "Registering an address again"). Last, a one-time login code is
stored (its hash only, with the binding cookie's hash) for ``exchange`` to turn into the
usual bearer token within 60 s, in the same browser only (the page's request must carry
the binding cookie: an attacker's code planted in a victim's page is refused).

Nothing is written when a sign-in fails, except that its state is used up.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from shared.auth import IssuedToken, TokenService
from shared.domain.accounts import User, validate_email
from shared.domain.errors import ConcurrencyConflict, ValidationFailed
from shared.domain.social import (
    ACCESS_DENIED,
    EMAIL_NOT_VERIFIED,
    IDENTITY_MISMATCH,
    INVALID_STATE,
    LOGIN_CODE_TTL,
    PENDING_TTL,
    PROVIDER_ERROR,
    STATE_PATTERN,
    UNKNOWN_PROVIDER,
    IdentityLinkedElsewhere,
    InvalidLoginCode,
    LoginGrant,
    PendingSignIn,
    SignInFailed,
    digest,
    new_secret,
    same_digest,
)
from shared.logging import get_logger
from shared.ports import (
    Clock,
    IdentityProvider,
    LoginCodeRepository,
    PendingSignInRepository,
    SocialLinkRepository,
    UserRepository,
)
from shared.services.limits import AbuseLimits
from shared.settings import OAuthProvider

log = get_logger("app.social")

_RETRIES = 5
_SECRET = re.compile(STATE_PATTERN)


@dataclass(frozen=True)
class Started:
    """Where to send the browser, and the binding cookie's value to set."""

    location: str
    binding: str


@dataclass
class SocialSignInService:
    providers: Sequence[OAuthProvider]
    identity: IdentityProvider
    pending: PendingSignInRepository
    codes: LoginCodeRepository
    users: UserRepository
    tokens: TokenService
    clock: Clock
    limits: AbuseLimits | None = field(default=None)
    links: SocialLinkRepository | None = field(default=None)

    def list_providers(self) -> list[dict[str, str]]:
        return [{"name": p.name, "display_name": p.display_name} for p in self.providers]

    def _provider(self, name: str) -> OAuthProvider:
        for provider in self.providers:
            if provider.name == name:
                return provider
        raise SignInFailed(UNKNOWN_PROVIDER, f"No sign-in provider named {name!r}")

    # -- 1. to the provider ------------------------------------------------------------

    def begin(
        self, provider_name: str, redirect_uri: str, binding: str | None, client: str = ""
    ) -> Started:
        """Start a sign-in; ``binding`` is the browser's binding cookie if it has one (so
        that sign-ins in two tabs of one browser both work)."""
        if self.limits:
            self.limits.social_sign_in(client)
        provider = self._provider(provider_name)
        if binding is None or not _SECRET.match(binding):
            binding = new_secret()
        pending = PendingSignIn(
            state=new_secret(), provider=provider.name, nonce=new_secret(),
            code_verifier=new_secret(), redirect_uri=redirect_uri,
            binding_hash=digest(binding), expires_at=self.clock.now() + PENDING_TTL,
        )  # fmt: skip
        location = self.identity.authorization_url(
            provider, redirect_uri=redirect_uri, state=pending.state, nonce=pending.nonce,
            code_verifier=pending.code_verifier,
        )  # fmt: skip
        self.pending.add(pending)
        log.info("social sign-in started", extra={"provider": provider.name})
        return Started(location, binding)

    # -- 2. back from the provider -----------------------------------------------------

    def complete(
        self, provider_name: str, params: Mapping[str, str], binding: str | None, client: str = ""
    ) -> str:
        """The one-time login code of a successful sign-in; SignInFailed otherwise."""
        if self.limits:
            self.limits.social_sign_in(client)
        provider = self._provider(provider_name)
        pending = self._take_pending(provider, params.get("state", ""), binding)
        error = params.get("error")
        if error:
            slug = ACCESS_DENIED if error == "access_denied" else PROVIDER_ERROR
            raise SignInFailed(slug, f"The provider answered {error!r}")
        code = params.get("code", "")
        if not code or len(code) > 2048:
            raise SignInFailed(PROVIDER_ERROR, "The provider sent no authorization code")
        returned_issuer = params.get("iss")
        if returned_issuer is not None and returned_issuer != provider.issuer:
            raise SignInFailed(PROVIDER_ERROR, "The answer names another issuer (RFC 9207)")
        identity = self.identity.identify(
            provider, code=code, redirect_uri=pending.redirect_uri,
            code_verifier=pending.code_verifier, nonce=pending.nonce, now=self.clock.now(),
        )  # fmt: skip
        if identity.nonce != pending.nonce:
            raise SignInFailed(PROVIDER_ERROR, "The ID token's nonce is not this sign-in's")
        if not identity.email or not identity.email_verified:
            raise SignInFailed(EMAIL_NOT_VERIFIED, "The provider did not verify an e-mail address")
        try:
            address = validate_email(identity.email)
        except ValidationFailed:
            unusable = "The provider's e-mail address is not usable"
            raise SignInFailed(PROVIDER_ERROR, unusable) from None
        user = self._account_of(identity.issuer, identity.subject, address)
        login_code = new_secret()
        # Bound to this browser (``binding`` matched the pending sign-in's just above).
        self.codes.add(LoginGrant(
            digest(login_code), user.id, self.clock.now() + LOGIN_CODE_TTL, digest(binding or ""),
        ))  # fmt: skip
        log.info("social sign-in completed", extra={"provider": provider.name, "user_id": user.id})
        return login_code

    def _take_pending(
        self, provider: OAuthProvider, state: str, binding: str | None
    ) -> PendingSignIn:
        if not _SECRET.match(state):
            raise SignInFailed(INVALID_STATE, "No state, or not one of ours")
        pending = self.pending.take(state)  # used up now, whatever follows
        if pending is None:
            raise SignInFailed(INVALID_STATE, "Unknown or already used state")
        if pending.provider != provider.name or not pending.is_live(self.clock.now()):
            raise SignInFailed(INVALID_STATE, "The state is expired or of another provider")
        if binding is None or not same_digest(pending.binding_hash, binding):
            raise SignInFailed(INVALID_STATE, "The sign-in was started in another browser")
        return pending

    def _account_of(self, issuer: str, subject: str, address: str) -> User:
        """The account of a provider identity. Linking rule: an identity already linked
        (issuer, subject) signs in to its account, whatever address the provider now
        gives; otherwise the verified address finds the account (or creates it, or takes
        over a pending registration: ``_find_or_create``) and the identity is linked to
        it, unless that account is linked to another subject of the same issuer (the
        provider gave the address to someone else): refused, ``identity-mismatch``."""
        if self.links is not None:
            linked = self.links.find_user(issuer, subject)
            if linked is not None:
                found = self.users.get(linked)
                if found is not None and found.value.email_verified:
                    return found.value
        user = self._find_or_create(address)
        if self.links is not None:
            try:
                self.links.link(user.id, issuer, subject)
            except IdentityLinkedElsewhere:
                log.warning("sign-in refused: account linked to another identity",
                            extra={"user_id": user.id})  # fmt: skip
                raise SignInFailed(
                    IDENTITY_MISMATCH, "The account is linked to another identity there"
                ) from None
        return user

    def _find_or_create(self, address: str) -> User:
        from shared.domain.accounts import EmailTaken

        for _ in range(_RETRIES):
            now = self.clock.now()
            found = self.users.find_by_email(address)
            if found is None:
                user = User(
                    id=str(uuid.uuid4()), email=address, password_hash="",  # no password
                    email_verified=True, plan="basic", created_at=now, verified_at=now,
                    registration_id=uuid.uuid4().hex, registered_at=now,
                )  # fmt: skip
                try:
                    self.users.add(user)
                except EmailTaken:
                    continue  # registered meanwhile: look again
                log.info("account created by social sign-in", extra={"user_id": user.id})
                return user
            if found.value.email_verified:
                return found.value
            # A pending registration: the provider proved ownership of the mailbox, so
            # whoever registered it (perhaps not the owner) loses the password they set,
            # and its code (bound to the registration id) dies.
            taken = replace(
                found.value, password_hash="", email_verified=True, verified_at=now,
                registration_id=uuid.uuid4().hex, registered_at=now,
            )  # fmt: skip
            try:
                self.users.update(taken, found.etag)
            except ConcurrencyConflict:
                continue
            log.info("pending registration taken over by social sign-in",
                     extra={"user_id": taken.id})  # fmt: skip
            return taken
        raise SignInFailed("conflict", "The account kept changing; try again")

    def purge_expired(self) -> int:
        """The daily timer: delete abandoned sign-ins and unused codes once expired."""
        now = self.clock.now()
        count = self.pending.purge_expired(now) + self.codes.purge_expired(now)
        log.info("expired social sign-ins purged", extra={"count": count})
        return count

    # -- 3. the page's code for a token ------------------------------------------------

    def exchange(self, login_code: str, binding: str | None) -> IssuedToken:
        """The bearer token for a login code, from the browser that signed in only:
        ``binding`` is the binding cookie the request carried. A code sent to another
        browser (login CSRF: an attacker's own code in a victim's page) is refused, and
        used up, so it cannot be tried again anywhere."""
        if not _SECRET.match(login_code):
            raise InvalidLoginCode()
        grant = self.codes.take(digest(login_code))
        now = self.clock.now()
        if grant is None or not grant.is_live(now):
            raise InvalidLoginCode()
        if (
            binding is None
            or not grant.binding_hash
            or not same_digest(grant.binding_hash, binding)
        ):
            log.warning("login code presented by another browser", extra={"user_id": grant.user_id})
            raise InvalidLoginCode("The login code was issued to another browser")
        found = self.users.get(grant.user_id)
        if found is None or not found.value.email_verified:
            raise InvalidLoginCode()
        return self.tokens.issue(found.value.id, found.value.email, now)
