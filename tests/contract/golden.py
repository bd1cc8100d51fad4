"""Golden files: what a pure translation produced, compared with a reviewed file.

Both directions of every provider are pinned so: requests built from canonical input
(`<case>.order.json` → `<case>.<provider>.json`, small bodies and queries in
`requests.json`), and answers read back (`answers/<case>.answer.json` → `<case>.read.json`).
An answer file is `{"read": <reader>, "body": <the provider's JSON>}` for a 2xx answer, read
by the test module's reader of that name, or `{"op", "status", "body"}` for an error answer,
mapped by the provider's `problems.to_error`.

After a deliberate change run `pytest tests/contract --regen-golden` and review the diff.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import orjson
import pytest

from gateway.errors import ProviderError

Reader = Callable[[Any], Any]
ErrorMap = Callable[[str, int, Any], Any]
"""`problems.to_error` of one provider, the rest of its arguments fixed."""


def plain(value: Any) -> Any:
    """`value` as JSON data: dataclasses as objects, enums as their values, errors as what
    the gateway shows of them (class, `describe()`, and their own fields)."""
    if isinstance(value, ProviderError):
        shown: dict[str, Any] = {"class": type(value).__name__, "retryable": value.retryable}
        for extra in ("fields", "retry_after", "outcome_unknown"):
            if hasattr(value, extra):
                shown[extra] = plain(getattr(value, extra))
        return shown | plain(value.describe())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return value


def assert_golden(golden: Path, produced: Any, request: pytest.FixtureRequest) -> None:
    produced = plain(produced)
    if request.config.getoption("--regen-golden"):
        golden.write_bytes(orjson.dumps(produced, option=orjson.OPT_INDENT_2) + b"\n")
    assert golden.exists(), f"no golden file {golden.name}: run with --regen-golden and review it"
    assert produced == orjson.loads(golden.read_bytes())


def answer_cases(folder: Path) -> list[str]:
    return sorted(p.name.removesuffix(".answer.json") for p in folder.glob("*.answer.json"))


@dataclass(frozen=True)
class Wire:
    """One provider's pure translation, as its golden files exercise it."""

    folder: Path
    """`tests/contract/<name>`: `requests.json`, and the answers under `answers/`."""
    readers: Mapping[str, Reader]
    """The parsers of 2xx answers, by the name an answer file gives in `read`."""
    to_error: ErrorMap
    requests: Callable[[], Mapping[str, Any]]
    """The small requests (queries, bodies, headers), by name, as `requests.json` pins them."""


def wire_tests(wire: Wire) -> tuple[Callable[..., None], ...]:
    """The golden tests of `wire`, for a test module to bind at its top level."""
    answers = wire.folder / "answers"

    @pytest.mark.parametrize("case", answer_cases(answers))
    def test_answer_reads_as_golden(case: str, request: pytest.FixtureRequest) -> None:
        given = orjson.loads((answers / f"{case}.answer.json").read_bytes())
        if "read" in given:
            produced = wire.readers[given["read"]](given["body"])
        else:
            produced = wire.to_error(given["op"], given["status"], given["body"])
        assert_golden(answers / f"{case}.read.json", produced, request)

    def test_every_reader_has_an_answer_and_errors_have_theirs() -> None:
        given = [orjson.loads(p.read_bytes()) for p in answers.glob("*.answer.json")]
        assert {g["read"] for g in given if "read" in g} == set(wire.readers)
        assert sum("status" in g for g in given) > 3

    def test_small_requests_match_golden(request: pytest.FixtureRequest) -> None:
        assert_golden(wire.folder / "requests.json", wire.requests(), request)

    return (
        test_answer_reads_as_golden,
        test_every_reader_has_an_answer_and_errors_have_theirs,
        test_small_requests_match_golden,
    )
