"""RFC 9457 problem details: every error the facade returns.

`ProblemError` is raised by handlers and use-cases and rendered once by the API middleware.
`type` is a relative URI `/problems/<code>`; the same slug is repeated in `code` so clients
can switch on it without parsing a URI.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

PROBLEM_JSON = "application/problem+json"


@dataclass(frozen=True, slots=True)
class FieldProblem:
    loc: str
    msg: str
    rule: str | None = None
    """The provider rule or validation rule that was broken, where one applies."""

    def as_dict(self) -> dict[str, str]:
        out = {"loc": self.loc, "msg": self.msg}
        if self.rule:
            out["rule"] = self.rule
        return out


@dataclass(slots=True)
class ProblemError(Exception):
    status: int
    code: str
    title: str
    detail: str | None = None
    errors: list[FieldProblem] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        Exception.__init__(self, f"{self.status} {self.code}: {self.detail or self.title}")

    def body(self, instance: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": f"/problems/{self.code}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail or self.title,
            "instance": instance,
            "code": self.code,
        }
        if self.errors:
            out["errors"] = [e.as_dict() for e in self.errors]
        out.update(self.extra)
        return out


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
