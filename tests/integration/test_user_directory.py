"""The administrators' user list (GET /api/users): one contract, the in-memory fake and the
Table adapter (the ``~directory`` partition of ``users``, kept on register and update)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from shared.adapters.memory_accounts import MemoryUserRepository
from shared.adapters.table_accounts import TableUserRepository
from shared.container import Container
from shared.domain.accounts import User, UserSummary
from shared.domain.errors import ValidationFailed
from shared.ports import UserRepository

T0 = datetime(2026, 11, 22, 12, 30, 15, 123000, tzinfo=UTC)


def user_at(when: datetime, user_id: str | None = None) -> User:
    return User(
        id=user_id or str(uuid.uuid4()),
        email=f"u{uuid.uuid4().hex[:8]}@example.com",
        password_hash="$argon2id$v=19$m=1024,t=1,p=1$c2FsdA$aGFzaA",
        email_verified=False,
        plan="basic",
        created_at=when,
    )


@pytest.fixture(params=["memory", "table"])
def users(
    request: pytest.FixtureRequest, make_container: Callable[..., Container]
) -> UserRepository:
    if request.param == "memory":
        return MemoryUserRepository()
    # Tables of this test alone: the directory partition must hold only its users.
    c = make_container()
    run = uuid.uuid4().hex[:12]
    return TableUserRepository(c.table(f"users{run}"), c.table(f"useremails{run}"))


def all_pages(users: UserRepository, limit: int) -> list[list[UserSummary]]:
    pages, cursor = [], None
    while True:
        page, cursor = users.list_page(limit, cursor)
        pages.append(page)
        if cursor is None:
            return pages


def test_empty_directory(users: UserRepository) -> None:
    assert users.list_page(20, None) == ([], None)


def test_users_are_listed_newest_first_in_pages_that_cover_each_once(
    users: UserRepository,
) -> None:
    made = [user_at(T0 + timedelta(seconds=i)) for i in range(7)]
    # Two registered in the same millisecond: ordered by id.
    twins = [user_at(T0 + timedelta(seconds=3), f"{c}" * 8 + "-twin") for c in "ba"]
    for user in [*made, *twins]:
        users.add(user)
    pages = all_pages(users, 3)
    assert [len(p) for p in pages] == [3, 3, 3]
    listed = [s.id for page in pages for s in page]
    expected = sorted([*made, *twins], key=lambda u: (-u.created_at.timestamp(), u.id))
    assert listed == [u.id for u in expected]
    assert pages[0][0] == UserSummary.of(made[-1])
    # A limit that divides the list exactly ends with no further cursor.
    exact, cursor = users.list_page(9, None)
    assert len(exact) == 9
    assert cursor is None


def test_the_listing_follows_updates(users: UserRepository) -> None:
    user = user_at(T0)
    users.add(user)
    found = users.get(user.id)
    assert found is not None
    changed = replace(found.value, plan="premium", email_verified=True)
    users.update(changed, found.etag)
    (summary,), _ = users.list_page(10, None)
    assert summary == UserSummary.of(changed)
    assert summary.created_at == T0  # to the millisecond, as stored


@pytest.mark.parametrize("cursor", ["%%%%", "AAAA", "gA", "\x00"])  # empty, NULs, not UTF-8
def test_a_cursor_that_is_not_ours_is_a_validation_error(
    users: UserRepository, cursor: str
) -> None:
    users.add(user_at(T0))
    with pytest.raises(ValidationFailed):
        users.list_page(10, cursor)


def test_an_update_that_moves_created_at_lists_the_user_once(users: UserRepository) -> None:
    """A pending registration replaced by a new one takes its time (services/accounts.py
    _replace_pending): the user stays listed once, at the new time (schemathesis's
    re-registrations left one row per time, and GET /api/users listed them all)."""
    user = user_at(T0)
    users.add(user)
    for minutes in (1, 2, 3):
        found = users.get(user.id)
        assert found is not None
        users.update(replace(found.value, created_at=T0 + timedelta(minutes=minutes)), found.etag)
    listed = [s for page in all_pages(users, 2) for s in page]
    assert [(s.id, s.created_at) for s in listed] == [(user.id, T0 + timedelta(minutes=3))]
