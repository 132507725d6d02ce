"""One contract, two implementations: the in-memory fakes and the Table Storage adapters."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from shared.adapters import table_accounts
from shared.adapters.memory_accounts import MemoryOtpRepository, MemoryUserRepository
from shared.adapters.table_accounts import TableOtpRepository, TableUserRepository
from shared.container import Container
from shared.domain.accounts import EmailTaken, OtpRecord, User, email_key
from shared.domain.errors import ConcurrencyConflict
from shared.ports import OtpRepository, UserRepository

NOW = datetime(2026, 11, 22, 12, 30, 15, 123456, tzinfo=UTC)


def new_user(email: str | None = None) -> User:
    return User(
        id=str(uuid.uuid4()),
        email=email or f"u{uuid.uuid4().hex[:8]}@example.com",
        password_hash="$argon2id$v=19$m=1024,t=1,p=1$c2FsdA$aGFzaA",
        email_verified=False,
        plan="basic",
        created_at=NOW,
        registration_id=uuid.uuid4().hex,
        registered_at=NOW,
    )


@pytest.fixture(params=["memory", "table"])
def users(
    request: pytest.FixtureRequest, make_container: Callable[..., Container]
) -> UserRepository:
    if request.param == "memory":
        return MemoryUserRepository()
    c = make_container()
    return TableUserRepository(c.table("users"), c.table("useremails"))


@pytest.fixture(params=["memory", "table"])
def otps(request: pytest.FixtureRequest, make_container: Callable[..., Container]) -> OtpRepository:
    if request.param == "memory":
        return MemoryOtpRepository()
    return TableOtpRepository(make_container().table("otps"))


def test_add_then_read_by_id_and_by_email_in_any_case(users: UserRepository) -> None:
    user = new_user()
    users.add(user)
    by_id = users.get(user.id)
    assert by_id is not None
    assert by_id.value == user  # times survive the round trip to the microsecond
    by_email = users.find_by_email(user.email.upper())
    assert by_email is not None
    assert by_email.value.id == user.id
    assert users.get("nobody") is None
    assert users.find_by_email("nobody@example.com") is None


@pytest.mark.parametrize("odd", ["a/b@example.com", "a#b@x.com", "a?b@x.com", "a\\b@x.com",
                                 "a\x00b@x.com", "a\x85b@x.com"])  # fmt: skip
def test_an_address_that_table_keys_forbid_is_no_account(users: UserRepository, odd: str) -> None:
    assert users.find_by_email(odd) is None  # and no error from storage
    with pytest.raises(ValueError):
        users.add(new_user(odd))


def test_an_address_has_one_account(users: UserRepository) -> None:
    user = new_user()
    users.add(user)
    with pytest.raises(EmailTaken):
        users.add(new_user(user.email.swapcase()))


def test_concurrent_registrations_of_one_address_let_exactly_one_win(
    users: UserRepository,
) -> None:
    email = f"race{uuid.uuid4().hex[:8]}@example.com"
    outcomes: list[str] = []
    barrier = threading.Barrier(6)

    def attempt(index: int) -> None:
        barrier.wait()
        try:
            users.add(new_user(email.upper() if index % 2 else email))
            outcomes.append("created")
        except EmailTaken:
            outcomes.append("taken")

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["created"] + ["taken"] * 5


def test_update_is_guarded_by_the_etag(users: UserRepository) -> None:
    user = new_user()
    users.add(user)
    first = users.get(user.id)
    assert first is not None
    new_etag = users.update(replace(user, plan="premium"), first.etag)
    assert new_etag != first.etag
    with pytest.raises(ConcurrencyConflict):
        users.update(replace(user, plan="basic"), first.etag)  # stale
    latest = users.get(user.id)
    assert latest is not None
    assert latest.value.plan == "premium"


def test_an_orphaned_email_index_entry_can_be_claimed(
    make_container: Callable[..., Container], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A registration that died between its two inserts leaves only the index entry.
    c = make_container()
    repository = TableUserRepository(c.table("users"), c.table("useremails"))
    email = f"orphan{uuid.uuid4().hex[:8]}@example.com"
    c.table("useremails").create_entity(
        {"PartitionKey": email_key(email), "RowKey": "email", "user_id": "ghost"}
    )
    user = new_user(email)
    with pytest.raises(EmailTaken):
        repository.add(user)  # too young: it may be a registration still in flight
    monkeypatch.setattr(table_accounts, "ORPHAN_AFTER", timedelta(0))
    repository.add(user)
    found = repository.find_by_email(email)
    assert found is not None
    assert found.value.id == user.id


def otp_record(user_id: str, **changes: object) -> OtpRecord:
    record = OtpRecord(
        user_id=user_id, code_hash=None, expires_at=None, attempts=0, used=False,
        requested_at=NOW, request_id="r1", registration_id="g1",
    )  # fmt: skip
    return replace(record, **changes)  # type: ignore[arg-type]


def test_otp_insert_if_absent_then_guarded_replace(otps: OtpRepository) -> None:
    user_id = str(uuid.uuid4())
    assert otps.get(user_id) is None
    etag = otps.put(otp_record(user_id), None)
    with pytest.raises(ConcurrencyConflict):
        otps.put(otp_record(user_id), None)  # already there
    record = otp_record(user_id, code_hash="ab" * 32, expires_at=NOW, attempts=2, sent_at=NOW)
    second = otps.put(record, etag)
    with pytest.raises(ConcurrencyConflict):
        otps.put(otp_record(user_id, attempts=3), etag)  # stale
    stored = otps.get(user_id)
    assert stored is not None
    assert stored.value == record
    assert stored.etag == second


def test_login_lookup_reads_the_account_and_the_failure_state(users: UserRepository) -> None:
    user = new_user()
    users.add(user)
    lookup = users.find_for_login(user.email.upper())
    assert lookup.user is not None
    assert lookup.user.value == user
    assert (lookup.failures_tat, lookup.failures_etag) == (None, None)
    users.save_login_failures(user.email, 1000.5, None)
    with pytest.raises(ConcurrencyConflict):
        users.save_login_failures(user.email, 2000.0, None)  # already there
    first = users.find_for_login(user.email)
    assert first.failures_tat == 1000.5
    assert first.failures_etag is not None
    users.save_login_failures(user.email.upper(), 1180.5, first.failures_etag)
    with pytest.raises(ConcurrencyConflict):
        users.save_login_failures(user.email, 1360.5, first.failures_etag)  # stale
    later = users.find_for_login(user.email)
    assert later.failures_tat == 1180.5
    assert later.user is not None and later.user.value.id == user.id
    # The failure state does not disturb the index: the address still has one account.
    with pytest.raises(EmailTaken):
        users.add(new_user(user.email))


def test_unknown_addresses_keep_failure_state_too(users: UserRepository) -> None:
    email = f"ghost{uuid.uuid4().hex[:8]}@example.com"
    assert users.find_for_login(email).user is None
    users.save_login_failures(email, 42.0, None)
    lookup = users.find_for_login(email)
    assert (lookup.user, lookup.failures_tat) == (None, 42.0)
    assert users.find_by_email(email) is None
    user = new_user(email)
    users.add(user)  # the failure state is no registration: the address is free
    assert users.find_for_login(email).user is not None


@pytest.mark.parametrize("odd", ["a/b@example.com", "a\x00b@x.com"])
def test_login_lookup_of_an_address_table_keys_forbid(users: UserRepository, odd: str) -> None:
    assert users.find_for_login(odd).user is None
    users.save_login_failures(odd, 1.0, None)  # nothing stored, no error
    assert users.find_for_login(odd).failures_tat is None


def test_item5_login_failure_rows_of_unknown_addresses_are_purged_once_run_out(
    users: UserRepository,
) -> None:
    """Issue 18, item 5: a wrong password for any address, known or not, leaves a
    ``login-failures`` row. 200 unknown addresses: 200 rows; the purge after their TAT
    deletes them all but one tried again since (live), and a purged address is read as
    having no failures (then saved afresh, insert-if-absent)."""
    tag = uuid.uuid4().hex[:8]
    addresses = [f"nobody-{tag}-{i}@example.com" for i in range(200)]
    start = datetime(2026, 12, 1, 12, tzinfo=UTC).timestamp()
    for address in addresses:
        users.save_login_failures(address, start + 180, None)
    live = users.find_for_login(addresses[0])
    users.save_login_failures(addresses[0], start + 3600, live.failures_etag)
    users.purge_login_failures(datetime.fromtimestamp(start + 181, UTC))
    remaining = [a for a in addresses if users.find_for_login(a).failures_tat is not None]
    assert remaining == [addresses[0]]
    gone = users.find_for_login(addresses[1])
    assert gone.failures_etag is None
    users.save_login_failures(addresses[1], start + 400, None)
