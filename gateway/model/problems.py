"""RFC 9457 problem details: every error the facade returns, as a `ProblemError`
(`gateway.errors`), and how a failed validation becomes one."""

from __future__ import annotations

from collections.abc import Collection

from pydantic import ValidationError

from gateway.errors import FieldProblem, ProblemError

PROBLEM_JSON = "application/problem+json"


def loc_of(parts: tuple[int | str, ...]) -> str:
    """`('lines', 0, 'sku')` → `lines[0].sku`."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "body"


IMMUTABLE = "field-immutable"
"""Code of a change naming a field that cannot change (and the `rule` of each such error)."""


def validation_problem(
    exc: ValidationError,
    *,
    prefix: str = "",
    what: str = "canonical order",
    immutable: Collection[str] = (),
) -> ProblemError:
    """`exc` as the facade's 422. `immutable`: fields of the canonical order the body's model
    (a change) leaves out on purpose — one of them is named as such, not as an unknown field."""
    errors = []
    for err in exc.errors(include_url=False, include_context=False):
        parts = tuple(err["loc"])
        loc = loc_of(parts)
        if prefix:
            loc = f"{prefix}.{loc}" if loc != "body" else prefix
        msg, rule = err["msg"].removeprefix("Value error, "), err["type"]
        if rule == "extra_forbidden" and len(parts) == 1 and parts[0] in immutable:
            msg, rule = f"{parts[0]} cannot be changed after submission", IMMUTABLE
        elif rule == "extra_forbidden":
            msg = f"unknown field (the {what} does not have it)"
        errors.append(FieldProblem(loc, msg, rule=rule))
    if all(e.rule == IMMUTABLE for e in errors):
        return ProblemError(
            422,
            IMMUTABLE,
            "The change names fields that cannot be changed after submission",
            detail="; ".join(e.msg for e in errors)
            + " (to change them, cancel the order and submit a corrected one)",
            errors=errors,
        )
    return ProblemError(
        422,
        "validation",
        f"The request body is not a valid {what}",
        detail=f"{len(errors)} field(s) invalid: " + ", ".join(e.loc for e in errors[:10]),
        errors=errors,
    )
