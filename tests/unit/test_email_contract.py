"""Issue 18 item 10: the OpenAPI schema says exactly which e-mail addresses and provider
names the server takes.

schemathesis (another seed than the project's) found `POST /api/register` refusing
`8`w+02a0/h@d.com`, valid for "format: email" (RFC 5321), and `/api/auth/B/login` answering
302 although `B` breaks the documented provider pattern (the host's regex route constraints
ignore case, as ASP.NET's do). Both directions are checked here against the document the
app serves: what the schema accepts the server accepts (shared.domain.accounts.
validate_email, the code behind register/login/verify), and what the server accepts the
schema accepts.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from pydantic import ValidationError

from functions.models.accounts import RegisterIn
from shared.domain.accounts import storable_email, validate_email
from shared.domain.errors import ValidationFailed

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    import function_app  # noqa: F401 - registers every blueprint
    from functions.openapi import _openapi_document

    return dict(json.loads(_openapi_document()))


@pytest.fixture(scope="module")
def email_schema(document: dict[str, Any]) -> Draft202012Validator:
    schema = document["components"]["schemas"]["RegisterIn"]["properties"]["email"]
    return Draft202012Validator(schema)


def server_accepts(address: str) -> bool:
    """What POST /api/register does with the address: the model, then the accounts domain."""
    try:
        RegisterIn.model_validate({"email": address, "password": PASSWORD})
        validate_email(address)
    except (ValidationError, ValidationFailed):
        return False
    return True


# Candidate addresses: RFC 5321 ones (hypothesis' emails(), what "format: email" promises),
# near misses built from the characters that matter, and arbitrary text.
_ATEXT = r"[A-Za-z0-9!$%&'*+=^_`{|}~/#?.\\ \"@()\[\]:-]"
_NEAR = (
    rf"{_ATEXT}{{1,8}}@([A-Za-z0-9-]{{1,5}}\.){{1,3}}"
    r"([A-Za-z0-9-]{1,4}|local|test|onion|arpa|invalid|localhost)\.?"
)
ADDRESSES = st.one_of(
    st.emails(),
    st.from_regex(_NEAR, fullmatch=True),
    st.text(max_size=30),
    st.sampled_from(
        [
            "8`w+02a0/h@d.com",
            "a@b.c1",
            "ab--c@x.de",
            "a@ab--cd.com",
            "a@1.com",
            "ann@example.com\n",
            "a" * 64 + "@example.com",
            "a" * 65 + "@example.com",
            "a.b" * 21 + "c@example.com",
        ]
    ),
)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(address=ADDRESSES)
def test_item10_the_schema_accepts_exactly_the_addresses_the_server_accepts(
    address: str, email_schema: Draft202012Validator
) -> None:
    schema_ok = email_schema.is_valid(address)
    server_ok = server_accepts(address)
    assert schema_ok == server_ok, (address, schema_ok, server_ok)
    if server_ok:
        assert storable_email(validate_email(address))


def test_item10_the_reported_address_is_refused_by_the_schema_and_the_server(
    email_schema: Draft202012Validator,
) -> None:
    assert not email_schema.is_valid("8`w+02a0/h@d.com")
    assert not server_accepts("8`w+02a0/h@d.com")
    assert email_schema.is_valid("8`w+02a0h@d.com") and server_accepts("8`w+02a0h@d.com")


def test_item10_login_and_verify_state_the_same_address_shape(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    register = schemas["RegisterIn"]["properties"]["email"]
    for model in ("LoginIn", "VerifyIn"):
        assert schemas[model]["properties"]["email"] == register, model


@pytest.mark.parametrize("path", ["/api/auth/{provider}/login", "/api/auth/{provider}/callback"])
def test_item10_the_provider_pattern_is_the_one_the_function_enforces(
    document: dict[str, Any], path: str
) -> None:
    """The function refuses (404) what the schema's pattern refuses, case included."""
    import azure.functions as func

    from functions.social import _provider
    from shared.domain.errors import NotFound

    parameter = document["paths"][path]["get"]["parameters"][0]
    pattern = parameter["schema"]["pattern"]
    assert "404" in document["paths"][path]["get"]["responses"]
    for name in ["b", "local", "my-idp", "B", "Local", "b_", "-b", "b" * 33, "é", "b\n"]:
        request = func.HttpRequest(
            "GET", f"http://h{path}", body=b"", route_params={"provider": name}
        )
        try:
            _provider(request)
            taken = True
        except NotFound:
            taken = False
        assert taken == bool(re.search(pattern, name)), name
