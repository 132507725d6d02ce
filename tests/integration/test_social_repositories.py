"""One contract, two implementations of the social sign-in repositories: the in-memory
fakes and the Table Storage adapters (on Azurite): insert-if-absent, single-use take
(also under concurrent takers), and the values round-tripped exactly."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.adapters.memory_social import MemoryLoginCodes, MemoryPendingSignIns
from shared.adapters.table_social import TableLoginCodes, TablePendingSignIns
from shared.container import Container
from shared.domain.errors import ConcurrencyConflict
from shared.domain.social import LoginGrant, PendingSignIn, digest, new_secret
from shared.ports import LoginCodeRepository, PendingSignInRepository

WHEN = datetime(2026, 12, 1, 9, 30, 15, 123456, tzinfo=UTC)


@dataclass
class Stores:
    pending: PendingSignInRepository
    codes: LoginCodeRepository


@pytest.fixture(params=["memory", "table"])
def stores(request: pytest.FixtureRequest, make_container: Callable[..., Container]) -> Stores:
    if request.param == "memory":
        return Stores(MemoryPendingSignIns(), MemoryLoginCodes())
    table = make_container().table("socialsignin")
    return Stores(TablePendingSignIns(table), TableLoginCodes(table))


def pending() -> PendingSignIn:
    return PendingSignIn(
        state=new_secret(), provider="local", nonce=new_secret(), code_verifier=new_secret(),
        redirect_uri="http://127.0.0.1:7071/api/auth/local/callback",
        binding_hash=digest(new_secret()), expires_at=WHEN + timedelta(minutes=10),
    )  # fmt: skip


def grant() -> LoginGrant:
    return LoginGrant(digest(new_secret()), "user-1", WHEN + timedelta(seconds=60))


def test_a_pending_sign_in_is_taken_once_and_exactly_as_stored(stores: Stores) -> None:
    stored = pending()
    stores.pending.add(stored)
    assert stores.pending.take(stored.state) == stored
    assert stores.pending.take(stored.state) is None
    assert stores.pending.take(new_secret()) is None


def test_a_state_is_stored_once(stores: Stores) -> None:
    stored = pending()
    stores.pending.add(stored)
    with pytest.raises(ConcurrencyConflict):
        stores.pending.add(stored)


def test_a_login_code_is_taken_once_and_exactly_as_stored(stores: Stores) -> None:
    stored = grant()
    stores.codes.add(stored)
    with pytest.raises(ConcurrencyConflict):
        stores.codes.add(stored)
    assert stores.codes.take(stored.code_hash) == stored
    assert stores.codes.take(stored.code_hash) is None


@pytest.mark.parametrize("kind", ["pending", "code"])
def test_of_concurrent_takers_exactly_one_gets_it(stores: Stores, kind: str) -> None:
    for _ in range(3):
        if kind == "pending":
            item: Any = pending()
            stores.pending.add(item)
            take: Callable[[], Any] = lambda key=item.state: stores.pending.take(key)  # noqa: E731
        else:
            item = grant()
            stores.codes.add(item)
            take = lambda key=item.code_hash: stores.codes.take(key)  # noqa: E731
        barrier = threading.Barrier(6)
        results: list[Any] = []

        def run(
            take: Callable[[], Any] = take,
            barrier: threading.Barrier = barrier,
            results: list[Any] = results,
        ) -> None:
            barrier.wait()
            results.append(take())

        threads = [threading.Thread(target=run) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert [r for r in results if r is not None] == [item]
        assert len(results) == 6


def test_only_expired_rows_are_purged(stores: Stores) -> None:
    live_pending, live_code = pending(), grant()
    dead_pending = PendingSignIn(
        **{**pending().__dict__, "expires_at": WHEN - timedelta(seconds=1)}
    )
    dead_code = LoginGrant(digest(new_secret()), "user-2", WHEN - timedelta(seconds=1))
    for item in (live_pending, dead_pending):
        stores.pending.add(item)
    for code in (live_code, dead_code):
        stores.codes.add(code)
    assert stores.pending.purge_expired(WHEN) >= 1
    assert stores.codes.purge_expired(WHEN) >= 1
    assert stores.pending.take(dead_pending.state) is None
    assert stores.codes.take(dead_code.code_hash) is None
    assert stores.pending.take(live_pending.state) == live_pending
    assert stores.codes.take(live_code.code_hash) == live_code


@pytest.fixture(params=["memory", "table"])
def links(request: pytest.FixtureRequest, make_container: Callable[..., Container]) -> Any:
    from shared.adapters.memory_social import MemorySocialLinks
    from shared.adapters.table_social import TableSocialLinks

    if request.param == "memory":
        return MemorySocialLinks()
    return TableSocialLinks(make_container().table("sociallinks"))


def test_item4_one_identity_per_issuer_per_account_even_when_racing(links: Any) -> None:
    """The (issuer, subject) link: found by a point read; linking is idempotent; an
    account takes one subject per issuer (insert-if-absent), whoever wins a race."""
    import uuid

    from shared.domain.social import IdentityLinkedElsewhere

    user, issuer = f"u-{uuid.uuid4().hex}", "https://id.example.net/tenant/v2.0"
    assert links.find_user(issuer, "sub/with?odd#chars") is None
    links.link(user, issuer, "sub/with?odd#chars")
    links.link(user, issuer, "sub/with?odd#chars")  # again: fine
    assert links.find_user(issuer, "sub/with?odd#chars") == user
    with pytest.raises(IdentityLinkedElsewhere):
        links.link(user, issuer, "another-subject")
    assert links.find_user(issuer, "another-subject") is None
    links.link(user, "https://other.example", "another-subject")  # another issuer
    racer = f"u-{uuid.uuid4().hex}"
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def link(subject: str) -> None:
        barrier.wait()
        try:
            links.link(racer, issuer, subject)
            outcomes.append(subject)
        except IdentityLinkedElsewhere:
            outcomes.append("refused")

    threads = [threading.Thread(target=link, args=(f"s{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [o for o in outcomes if o != "refused"]
    assert len(winners) == 1 and links.find_user(issuer, winners[0]) == racer
