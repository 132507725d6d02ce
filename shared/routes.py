"""Route parameters of the API's ids, constrained so that routes resolve the same on the
real Functions host as locally (API.md, Conventions).

The real host does not use ASP.NET route precedence: it tries HTTP functions in name order
and the first template that matches wins, so ``get_job`` (``jobs/{job_id}``) would take
``GET /api/jobs/open``, ``/assigned`` and ``/summary`` (they sort after it). Each id
parameter therefore carries a regex constraint of exactly the ids we mint, which no literal
segment of the API can satisfy; and since those shapes hold only ``[A-Za-z0-9_-]``, an id
holding a character Table keys forbid (``/ \\ # ?``, control characters) does not match
either: routing answers 404 before any code of ours runs.

The shapes (tests/unit/test_api_routes.py checks them against the code that mints ids):
- user id: ``[A-Za-z0-9_-]{1,100}`` (registration mints a UUID; the job-id owner part is
  the same shape, see shared/domain/jobs.py);
- bid id: ``time_sortable_id``: 13 digits (ms) + 16 hex digits;
- job id: ``{time_sortable_id}-{owner user id}``.

ASP.NET rules for the template text: braces inside a parameter are doubled (``{{13}}``);
a regex constraint is not anchored unless written so; ``$`` would also accept a value that
ends in a newline (``%0A``) in .NET as in Python, so the end is ``(?![\\s\\S])``; the match
ignores case (RegexOptions.IgnoreCase), harmless for these shapes.
"""

from __future__ import annotations

_END = r"(?![\s\S])"
_OWNER = r"[A-Za-z0-9_-]{{1,100}}"
_TIME_ID = r"[0-9]{{13}}[0-9a-f]{{16}}"

USER_ID = "{user_id:regex(^" + _OWNER + _END + ")}"
BID_ID = "{bid_id:regex(^" + _TIME_ID + _END + ")}"
JOB_ID = "{job_id:regex(^" + _TIME_ID + "-" + _OWNER + _END + ")}"

# City ids (shared/domain/subscriptions.CITY_ID): a GeoNames id, or ``ow:lat,lon`` with
# four decimals (OpenWeatherMap's geocoder). The colon sits inside the constraint's
# parentheses, where ASP.NET's parser takes it literally.
_CITY = r"([0-9]{{1,12}}|ow:-?[0-9]{{1,3}}\.[0-9]{{4}},-?[0-9]{{1,3}}\.[0-9]{{4}})"
CITY_ID = "{city_id:regex(^" + _CITY + _END + ")}"
