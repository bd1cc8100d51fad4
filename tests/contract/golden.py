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
from enum import Enum
from pathlib import Path
from typing import Any

import orjson
import pytest

from gateway.providers.errors import ProviderError

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


def assert_answer_reads_as_golden(
    folder: Path,
    case: str,
    readers: Mapping[str, Reader],
    to_error: ErrorMap,
    request: pytest.FixtureRequest,
) -> None:
    given = orjson.loads((folder / f"{case}.answer.json").read_bytes())
    if "read" in given:
        produced = readers[given["read"]](given["body"])
    else:
        produced = to_error(given["op"], given["status"], given["body"])
    assert_golden(folder / f"{case}.read.json", produced, request)


def readers_used(folder: Path) -> set[str]:
    """The readers the answer files of `folder` name (every reader needs one)."""
    given = [orjson.loads(p.read_bytes()) for p in folder.glob("*.answer.json")]
    return {g["read"] for g in given if "read" in g}
