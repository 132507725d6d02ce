"""The registry of job kinds: validation of a new job's params and running a job.

The kinds themselves are modules of ``shared.services.kinds`` (one module each, found
there at import); see that package for what a kind is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from shared.domain.errors import FieldError, ValidationFailed
from shared.domain.jobs import PARAMS_MAX_UNITS, compact_json, utf16_units
from shared.domain.text import error_message
from shared.services.kinds import Kind, KindFailed, KindPorts, Params, discover

if TYPE_CHECKING:
    from shared.domain.jobs import Job

__all__ = [
    "KINDS", "Kind", "KindFailed", "KindPorts", "Params", "run_kind", "validate_params",
]  # fmt: skip

KINDS: dict[str, Kind] = discover()


def validate_params(kind: str, params: dict[str, Any] | None) -> dict[str, Any]:
    """The params as the kind's model accepts them; 400 with field errors otherwise."""
    spec = KINDS.get(kind)
    if spec is None:
        raise ValidationFailed(
            "Unknown job kind",
            errors=[FieldError("kind", f"must be one of {', '.join(sorted(KINDS))}")],
        )
    try:
        model = spec.params.model_validate(params or {})
    except ValidationError as exc:
        errors = [
            FieldError(
                "params." + ".".join(str(p) for p in e.get("loc", ()))
                if e.get("loc")
                else "params",
                error_message(e),
            )
            for e in exc.errors(include_url=False)
        ]
        raise ValidationFailed("The params do not fit the kind", errors=errors) from exc
    valid = model.model_dump(mode="json")
    size = utf16_units(compact_json(valid))
    if size > PARAMS_MAX_UNITS:  # the job row must fit a Table string property, see the bound
        raise ValidationFailed(
            "The params are too large",
            errors=[FieldError("params", f"must be at most {PARAMS_MAX_UNITS} characters "
                                         f"as JSON (these are {size})")],
        )  # fmt: skip
    return valid


def run_kind(ports: KindPorts, job: Job) -> Any:
    spec = KINDS[job.kind]
    return spec.run(ports, job, spec.params.model_validate(job.params))
