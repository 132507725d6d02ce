"""Place-name matching keys, pure text rules (no I/O).

The city index matches typed names with ``normalize``, and the weather service keys its
geocoding cache with it, so both live here, in the domain, where either may use them.
"""

from __future__ import annotations

import re
import unicodedata

# Letters that carry no combining mark to strip, so NFKD leaves them alone.
_LETTER_FOLDS = str.maketrans(
    {
        "ł": "l",
        "ø": "o",
        "đ": "d",
        "ð": "d",
        "ħ": "h",
        "\u0131": "i",  # dotless i (Turkish)
        "ŀ": "l",
        "æ": "ae",
        "œ": "oe",
        "þ": "th",
        "ß": "ss",
    }
)
# Combining diacritics (the blocks NFKD moves accents of Latin, Greek and Cyrillic into).
_COMBINING_MARKS = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
# ' and its typographic cousins: right/left single quote, modifier apostrophe, okina, grave.
_APOSTROPHES = re.compile("['\u2019\u2018\u02bc\u02bb`]")
# Hyphens and dashes, dots, underscores, slashes and any run of white space become one space.
_SEPARATORS = re.compile("[\\s\\-\u2010-\u2015_./]+")


def ascii_fold(text: str) -> str:
    """``text`` with accents stripped and special Latin letters spelled in ASCII, case
    kept ("São Paulo" -> "Sao Paulo", "Łódź" -> "Lodz")."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return "".join(
        ch.translate(_LETTER_FOLDS) if ch.islower() else ch.lower().translate(_LETTER_FOLDS).upper()
        for ch in stripped
    )


def normalize(text: str) -> str:
    """The matching key of a name: no accents, case-folded, apostrophes dropped, hyphens,
    dots and runs of spaces folded to one space ("Saint-Étienne" == "saint etienne",
    "N'Djamena" == "ndjamena", "MÜNCHEN" == "munchen")."""
    if text.isascii():  # most names: skip Unicode decomposition (the index loads faster)
        folded = text.lower()
    else:
        decomposed = unicodedata.normalize("NFKD", text.casefold())
        folded = _COMBINING_MARKS.sub("", decomposed).translate(_LETTER_FOLDS)
    folded = _APOSTROPHES.sub("", folded)
    return _SEPARATORS.sub(" ", folded).strip()
