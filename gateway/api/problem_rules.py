"""The rule table's machinery: a rule per error class (status, code, title, what it says),
found for an exception by its class's MRO. The rules themselves are in `gateway.api.problems`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from gateway.errors import FieldProblem, GatewayError, ProblemError
from gateway.errors.refusals import Refused

E = TypeVar("E", bound=GatewayError)


@dataclass(frozen=True, slots=True)
class Said:
    """What a problem says besides its status, code and title."""

    detail: str | None = None
    """None: the title again."""
    errors: list[FieldProblem] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


def own_detail(exc: GatewayError) -> Said:
    return Said(str(exc))


@dataclass(frozen=True, slots=True)
class Rule:
    status: int
    code: str
    title: str | Callable[[Any], str]
    says: Callable[[Any], Said] = own_detail

    def problem(self, exc: GatewayError) -> ProblemError:
        said = self.says(exc)
        title = self.title if isinstance(self.title, str) else self.title(exc)
        return ProblemError(
            self.status,
            self.code,
            title,
            detail=said.detail,
            errors=said.errors,
            headers=said.headers,
            extra=said.extra,
        )


RULES: dict[type[GatewayError], Rule] = {}


def add_rule(
    cls: type[E],
    status: int,
    code: str,
    title: str | Callable[[E], str],
    says: Callable[[E], Said] = own_detail,
) -> None:
    RULES[cls] = Rule(status, code, title, says)


def invalid_at(loc: str, cls: type[Refused], title: str) -> None:
    """`cls` answered as a 422 `validation` problem whose one error, at `loc`, says why."""
    add_rule(cls, 422, "validation", title, lambda e: Said(errors=[FieldProblem(loc, e.detail)]))


def rule_of(cls: type[GatewayError]) -> Rule | None:
    """The rule answering `cls`: its own, else its nearest ancestor's (None: not an answer)."""
    return next((RULES[c] for c in cls.__mro__ if c in RULES), None)


def problem_of(exc: GatewayError) -> ProblemError | None:
    """The answer to `exc` (None: no rule; it is a bug to the caller, a 500)."""
    if isinstance(exc, ProblemError):
        return exc
    rule = rule_of(type(exc))
    return None if rule is None else rule.problem(exc)
