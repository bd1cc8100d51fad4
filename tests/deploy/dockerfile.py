"""A Dockerfile read into instructions, as the builder sees them (continuations joined)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import orjson


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case
    args: str
    stage: int  # index of the FROM it belongs to


def parse(path: Path) -> list[Instruction]:
    out: list[Instruction] = []
    stage = -1
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # comments inside a continued instruction are dropped by the builder
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        keyword, _, args = full.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
        out.append(Instruction(keyword, re.sub(r"\s+", " ", args.strip()), stage))
    assert not pending, f"{path} ends inside a continued instruction"
    return out


def exec_form(args: str) -> list[str]:
    """The JSON array of an exec-form ENTRYPOINT/CMD; fails on the shell form."""
    value = orjson.loads(args)
    assert isinstance(value, list), f"not exec form: {args}"
    assert all(isinstance(v, str) for v in value)
    return [str(v) for v in value]


def healthcheck_command(args: str) -> tuple[dict[str, str], list[str]]:
    """`--interval=10s … CMD ["…"]` → ({"interval": "10s", …}, the command's argv)."""
    options, sep, command = args.partition("CMD ")
    assert sep, f"HEALTHCHECK without CMD: {args}"
    opts = dict(o.removeprefix("--").split("=", 1) for o in options.split())
    return opts, exec_form(command)
