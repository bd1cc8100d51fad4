"""The exception tree drawn in `gateway.errors` is the truth of what each exception answers:
every class is drawn where it derives from, every arrow's status is the one its rule in
`gateway.api.problems` gives, every class a use-case or handler raises has one, and only
`api/` builds answers (`ProblemError`)."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

import gateway.errors
import gateway.errors.refusals
from gateway.api.problems import RULES, rule_of
from gateway.errors import GatewayError, ProblemError

GATEWAY = Path(gateway.errors.__file__).parents[1]
_LINE = re.compile(r"^(?P<indent>[│├└─ ]*)(?P<name>[A-Z]\w+)(?:\([^)]*\))?(?P<rest>.*)$")
_ARROW = re.compile(r"→ (\d{3})$")
# Where a caller's request is handled: whatever these raise reaches a handler, but for
# what is caught where it is raised (each drawn without a status).
_HANDLING = ("api", "orders", "returns", "submissions")
_CAUGHT = {"ProviderOrderTaken": "the submitter ends the order in `exception` (`_drive`)"}


def _classes() -> dict[str, type[GatewayError]]:
    found = {}
    for module in (gateway.errors, gateway.errors.refusals):
        for name, value in vars(module).items():
            if inspect.isclass(value) and issubclass(value, GatewayError):
                found[name] = value
    return found


def _drawing() -> list[tuple[int, str, int | None]]:
    """(depth, class name, status or None) per line of the drawing."""
    doc = gateway.errors.__doc__ or ""
    block = doc.split("```")[1].strip().splitlines()
    out = []
    for line in block:
        m = _LINE.match(line)
        assert m, f"not a line of the tree: {line!r}"
        arrow = _ARROW.search(m["rest"].rstrip())
        out.append((len(m["indent"]) // 4, m["name"], int(arrow[1]) if arrow else None))
    return out


CLASSES = _classes()
DRAWN = _drawing()


def test_every_exception_is_drawn_under_its_base() -> None:
    assert sorted(name for _, name, _ in DRAWN) == sorted(CLASSES)
    parents: list[str] = []
    for depth, name, _ in DRAWN:
        del parents[depth:]
        if parents:
            assert CLASSES[parents[-1]] in CLASSES[name].__bases__, f"{name} under {parents[-1]}"
        parents.append(name)


@pytest.mark.parametrize(("name", "status"), [(n, s) for _, n, s in DRAWN if s is not None])
def test_the_drawn_status_is_the_mapped_one(name: str, status: int) -> None:
    rule = rule_of(CLASSES[name])
    assert rule is not None, f"{name} is drawn answering {status} but has no rule"
    assert rule.status == status, f"{name}: drawn {status}, mapped {rule.status}"


def test_every_class_with_a_rule_of_its_own_is_drawn_with_its_status() -> None:
    undrawn = [c.__name__ for c in RULES if c.__name__ not in {n for _, n, s in DRAWN if s}]
    assert not undrawn, f"mapped but drawn without a status: {undrawn}"


def _raised() -> set[tuple[str, str]]:
    """(module, class name) of each exception of the tree raised where requests are handled."""
    out = set()
    for package in _HANDLING:
        for path in sorted((GATEWAY / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if not isinstance(node, ast.Raise) or not isinstance(node.exc, ast.Call):
                    continue
                func = node.exc.func
                name = func.value if isinstance(func, ast.Attribute) else func
                if isinstance(name, ast.Name) and name.id in CLASSES:
                    out.add((str(path.relative_to(GATEWAY)), name.id))
    return out


def test_every_exception_raised_while_handling_a_request_is_answered() -> None:
    raised = _raised()
    assert len({name for _, name in raised}) > 20  # the scan sees the use-cases' refusals
    unanswered = sorted(
        f"{module}: {name}"
        for module, name in raised
        if name not in {"ProblemError", *_CAUGHT} and rule_of(CLASSES[name]) is None
    )
    assert not unanswered
    assert all(status is None for _, name, status in DRAWN if name in _CAUGHT)


def test_only_api_builds_answers() -> None:
    builders = []
    for path in sorted(GATEWAY.rglob("*.py")):
        if path.is_relative_to(GATEWAY / "api") or path == Path(gateway.errors.__file__):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "ProblemError":
                builders.append(f"{path.relative_to(GATEWAY)}:{node.lineno}")
    assert not builders, "use-cases raise domain errors; api/ maps them"
    assert ProblemError not in RULES  # it is its own answer
