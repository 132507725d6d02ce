"""Text as the API takes it: Unicode without control characters.

Names, comments and query values are stored in Table properties and keys, logged, and
shown in a browser; none of them needs a control character, and Table keys refuse them.
The patterns are part of the request schemas, so the OpenAPI document says the same.
They use ``\\x`` escapes, which JSON Schema (ECMA 262), Python and Rust regexes all read
alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import StringConstraints

_C0_C1 = r"\x00-\x1f\x7f-\x9f"
_C0_C1_BUT_TAB_LF_CR = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"

LINE_PATTERN = rf"^[^{_C0_C1}]*$"
"""One line: no control character at all."""
TEXT_PATTERN = rf"^[^{_C0_C1_BUT_TAB_LF_CR}]*$"
"""Free text: tabs and line breaks allowed, other control characters not."""
PLACE_NAME_PATTERN = rf"^[^{_C0_C1}]*[^\s,{_C0_C1}][^{_C0_C1}]*$"
"""A place name (``Paris`` or ``Paris,FR``): one line with a character that is neither white
space nor a comma."""

CURSOR_PATTERN = r"^[A-Za-z0-9_-]*$"
"""A list cursor: opaque, base64url without padding (only a ``next_cursor`` given out is one)."""

Line = Annotated[str, StringConstraints(pattern=LINE_PATTERN)]
Text = Annotated[str, StringConstraints(pattern=TEXT_PATTERN)]
PlaceName = Annotated[str, StringConstraints(pattern=PLACE_NAME_PATTERN)]
Cursor = Annotated[
    str,
    StringConstraints(pattern=CURSOR_PATTERN, max_length=1024),
]

PATTERN_MESSAGES = {
    LINE_PATTERN: "must not contain control characters",
    TEXT_PATTERN: "must not contain control characters other than tab and line breaks",
    PLACE_NAME_PATTERN: "must not be blank or contain control characters",
    CURSOR_PATTERN: "not a cursor of this list",
}
"""What a value that fails one of these patterns is told (instead of the pattern)."""


def error_message(error: Mapping[str, Any]) -> str:
    """The message for one pydantic error: ours for these patterns, pydantic's otherwise."""
    message = str(error.get("msg", "is not valid"))
    if error.get("type") == "string_pattern_mismatch":
        return PATTERN_MESSAGES.get(error.get("ctx", {}).get("pattern", ""), message)
    return message
