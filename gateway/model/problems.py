"""RFC 9457 problem details: every error the facade returns.

`ProblemError` is raised by handlers and use-cases and rendered once by the API middleware.
`type` is a relative URI `/problems/<code>`; the same slug is repeated in `code` so clients
can switch on it without parsing a URI.
"""

from __future__ import annotations

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


def validation_problem(
    exc: ValidationError, *, prefix: str = "", what: str = "canonical order"
) -> ProblemError:
    errors = []
    for err in exc.errors(include_url=False, include_context=False):
        loc = loc_of(tuple(err["loc"]))
        if prefix:
            loc = f"{prefix}.{loc}" if loc != "body" else prefix
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = f"unknown field (the {what} does not have it)"
        errors.append(FieldProblem(loc, msg, rule=err["type"]))
    return ProblemError(
        422,
        "validation",
        f"The request body is not a valid {what}",
        detail=f"{len(errors)} field(s) invalid: " + ", ".join(e.loc for e in errors[:10]),
        errors=errors,
    )
