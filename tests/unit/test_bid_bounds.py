"""Issue 18 item 9: a bid with a huge fee or a five-digit year is a 400, never a 500.

The cause: FeeIn's before-validator multiplied a float amount by 100 to find its cents;
1e308 * 100 is inf and round(inf) raises OverflowError, which pydantic does not turn into a
validation error (only ValueError and AssertionError), so it escaped parse_body as a 500.
The amount is now bounded before any arithmetic (0 < amount <= 9999999999.99, as the schema
always said), and the deadline must be written YYYY-MM-DD (years 0001-9999: Python's
date.max), which the schema now says with a pattern.

The property test below is the check that would have caught it: whatever number or string
arrives, the model raises a ValidationError or accepts, nothing else.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from functions.models.jobs import MAX_AMOUNT, BidIn
from shared.adapters.table_jobs import _bid, _bid_entity
from shared.domain.jobs import Bid, Fee


def body(deadline: Any = "2030-06-30", amount: Any = 120.5) -> dict[str, Any]:
    return {"comment": "c", "proposed_deadline": deadline, "fee": {"amount": amount}}


@pytest.mark.parametrize(
    ("deadline", "amount"),
    [
        ("99999-01-01", 1e308),  # the reported request
        ("2030-06-30", 1e308),
        ("2030-06-30", -1e308),
        ("2030-06-30", 1.7976931348623157e308),
        ("2030-06-30", 10**400),
        ("2030-06-30", 1e16),
        ("2030-06-30", 9999999999.995),
        ("2030-06-30", "10000000000"),
        ("2030-06-30", 5e-324),
        ("99999-01-01", 1),
        ("+10000-01-01", 1),
        ("0000-01-01", 1),
        ("2030-02-30", 1),
        ("2030-06-30T00:00:00", 1),  # lax pydantic took a midnight datetime
        (1893456000, 1),  # ... and a Unix timestamp
        (1e308, 1),
    ],
)
def test_item9_out_of_range_bids_are_validation_errors(deadline: Any, amount: Any) -> None:
    with pytest.raises(ValidationError):
        BidIn.model_validate(json.loads(json.dumps(body(deadline, amount))))


@settings(max_examples=200, deadline=None)
@given(
    deadline=st.one_of(st.text(max_size=12), st.integers(), st.floats(), st.dates().map(str)),
    amount=st.one_of(
        st.floats(allow_nan=False, allow_infinity=False), st.integers(), st.text(max_size=14)
    ),
)
def test_item9_any_number_or_text_is_accepted_or_a_validation_error(
    deadline: Any, amount: Any
) -> None:
    try:
        parsed = BidIn.model_validate(body(deadline, amount))
    except ValidationError:
        return
    assert Decimal(0) < parsed.fee.amount <= MAX_AMOUNT
    assert parsed.fee.amount == parsed.fee.amount.quantize(Decimal("0.01"))
    assert isinstance(parsed.proposed_deadline, date)


@pytest.mark.parametrize("amount", [9999999999.99, "9999999999.99", 0.01, "0.01"])
def test_item9_the_bounds_themselves_are_accepted_and_survive_the_table_entity(
    amount: Any,
) -> None:
    parsed = BidIn.model_validate(body("9999-12-31", amount))
    bid = Bid(
        id="b", job_id="j", bidder_id="u", comment=parsed.comment,
        proposed_deadline=parsed.proposed_deadline, fee=Fee(parsed.fee.amount, "USD"),
        status="open", created_at=datetime(2030, 1, 1, tzinfo=UTC),
    )  # fmt: skip
    assert _bid(_bid_entity(bid)) == bid
    assert Decimal(str(bid.fee.to_public()["amount"])) == parsed.fee.amount


def test_item9_the_openapi_schema_states_the_bounds() -> None:
    import function_app  # noqa: F401 - registers every blueprint
    from functions.openapi import _openapi_document

    schemas = json.loads(_openapi_document())["components"]["schemas"]
    bid = schemas["BidIn"]
    deadline = bid["properties"]["proposed_deadline"]
    assert deadline["format"] == "date"
    assert deadline["pattern"] == "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
    assert "9999" in deadline["description"] and "today" in deadline["description"]
    fee = json.dumps(schemas["FeeIn"]["properties"]["amount"])
    assert '"maximum": 9999999999.99' in fee and '"exclusiveMinimum": 0' in fee
