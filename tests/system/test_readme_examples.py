"""The README's examples, run as written, in the order the README gives them.

Which blocks run: every fenced ```sh block of README.md, unless the line right before its
fence (blank lines aside) is `<!-- not run: <why> -->` — set-up commands (`make run`), or
what needs another process than the demo gateway (`make sandbox`). A block that means to
show an error says which statuses it expects: `<!-- expect: 422 -->`; each of them must then
be answered at least once in that block.

How they run: against a fresh demo gateway, `gateway serve --config config/gateway.toml
--port <free port>` with the Makefile's `DEMO_ENV` as `make run` starts it, its SQLite store
under the test's temp dir; every block in ONE bash session (`set -euo pipefail`), so a block
may use the shell variables of earlier ones, with the working directory the checkout (the
examples read `config/*.json`) and `:8080` rewritten to the test's port. `curl` is wrapped:
an HTTP status of 400 or more that the block does not expect fails the run, naming the
block; so does any command that fails. Where the README waits (a queued order turning
`submitted`), it polls; this test bounds the whole run instead of guessing a sleep.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.makefile import DEMO_ENV
from tests.system.gateway_process import ROOT, GatewayProcess
from tests.system.test_sandbox_start import demo_config

NOT_RUN = re.compile(r"<!--\s*not run:\s*(?P<why>\S.*?)\s*-->")
EXPECT = re.compile(r"<!--\s*expect:\s*(?P<statuses>\d{3}(?:[\s,]+\d{3})*)\s*-->")
DEMO_PORT = re.compile(r"\b(127\.0\.0\.1|localhost):8080\b")
SCRIPT_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Example:
    line: int  # README line of the opening fence
    code: str
    expect: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Skipped:
    line: int
    why: str


def examples(text: str) -> tuple[list[Example], list[Skipped]]:
    """The ```sh blocks of `text` in document order: those to run, those marked not to."""
    run: list[Example] = []
    skipped: list[Skipped] = []
    lines = text.splitlines()
    marker: tuple[int, str] | None = None  # a marker waiting for its block

    def stray() -> ValueError:
        assert marker
        return ValueError(f"README.md:{marker[0]}: {marker[1]!r} is not right before a ```sh")

    i = 0
    while i < len(lines):
        line = lines[i].strip()
        if line.startswith("```"):
            end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == "```")
            if line == "```sh":
                code = "\n".join(lines[i + 1 : end]) + "\n"
                note = marker[1] if marker else ""
                if found := NOT_RUN.fullmatch(note):
                    skipped.append(Skipped(i + 1, found["why"]))
                else:
                    expect = found["statuses"] if (found := EXPECT.fullmatch(note)) else ""
                    codes = frozenset(int(c) for c in re.findall(r"\d{3}", expect))
                    run.append(Example(i + 1, code, codes))
                marker = None
            elif marker:
                raise stray()
            i = end + 1
            continue
        if marker and line:
            raise stray()
        if NOT_RUN.fullmatch(line) or EXPECT.fullmatch(line):
            marker = (i + 1, line)
        elif re.match(r"<!--\s*(not run|expect)\b", line):
            raise ValueError(f"README.md:{i + 1}: malformed marker {line!r}")
        i += 1
    if marker:
        raise stray()
    return run, skipped


PRELUDE = r"""set -euo pipefail
README_BLOCK=0 README_EXPECT=
curl() {  # the README's own curl, failing on an HTTP status its block does not expect
  local head status rc=0
  head=$(mktemp)
  command curl -D "$head" "$@" || rc=$?
  status=$(awk '/^HTTP\//{s=$2} END{print s}' "$head")  # the last: after any 100 Continue
  rm -f "$head"
  local call="$*"
  printf 'curl\t%s\t%s\t%s\n' "$README_BLOCK" "${status:-none}" "${call//$'\n'/ }" >>"$README_LOG"
  if [ "$rc" -ne 0 ]; then
    echo "readme: curl exited $rc: curl $call" >&2
    return "$rc"
  fi
  case " $README_EXPECT " in *" $status "*) return 0 ;; esac
  if [ "$status" -ge 400 ]; then
    echo "readme: HTTP $status, which the README does not expect here: curl $call" >&2
    return 22
  fi
}
"""


def script(blocks: list[Example], port: int) -> str:
    parts = [PRELUDE]
    for n, block in enumerate(blocks, 1):
        expect = " ".join(map(str, sorted(block.expect)))
        parts.append(
            f"\n# --- block {n}: README.md line {block.line}\n"
            f"README_BLOCK={n} README_EXPECT='{expect}'\n"
            f"printf 'start\\t{n}\\n' >>\"$README_LOG\"\n"
            + DEMO_PORT.sub(rf"\1:{port}", block.code)
        )
    parts.append("\nprintf 'end\\n' >>\"$README_LOG\"\n")
    return "".join(parts)


async def run_examples(blocks: list[Example], port: int, tmp: Path) -> str:
    """Run `blocks` against 127.0.0.1:`port`; '' when every block passed, else why not."""
    (tmp / "readme.sh").write_text(script(blocks, port))
    log = tmp / "readme.log"
    log.write_text("")
    env = {"PATH": os.environ["PATH"], "TMPDIR": str(tmp), "README_LOG": str(log)}
    proc = await asyncio.create_subprocess_exec(
        "bash",
        str(tmp / "readme.sh"),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,  # its curls die with it on a timeout
    )
    try:
        output, _ = await asyncio.wait_for(proc.communicate(), SCRIPT_TIMEOUT_S)
        outcome = f"exit {proc.returncode}"
    except TimeoutError:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = await proc.communicate()
        outcome = f"still running after {SCRIPT_TIMEOUT_S:.0f} s"
    records = [line.split("\t") for line in log.read_text().splitlines()]
    started = [int(r[1]) for r in records if r[0] == "start"]
    if proc.returncode != 0 or ["end"] not in records:
        block = blocks[started[-1] - 1] if started else None
        where = f"block {started[-1]} (README.md line {block.line})" if block else "prelude"
        code = block.code if block else ""
        tail = output.decode(errors="replace")[-4000:]  # the block's own answers, and why
        return f"{where}: {outcome}\n{code}\n--- output (tail) ---\n{tail}"
    statuses: dict[int, set[int]] = {}
    for record in records:
        if record[0] == "curl" and record[2].isdigit():
            statuses.setdefault(int(record[1]), set()).add(int(record[2]))
    for n, block in enumerate(blocks, 1):
        if missing := block.expect - statuses.get(n, set()):
            return f"block {n} (README.md line {block.line}) never answered {sorted(missing)}"
    return ""


@pytest.mark.system
@pytest.mark.slow
@pytest.mark.timeout(90)
async def test_the_readme_examples_run_in_order_against_the_demo(tmp_path: Path) -> None:
    blocks, _ = examples((ROOT / "README.md").read_text())
    assert any("curl" in b.code for b in blocks), "the rule runs no example at all"
    gw = GatewayProcess(demo_config(tmp_path), DEMO_ENV, tmp_path / "gateway.log")
    try:
        await gw.start()
        failure = await run_examples(blocks, gw.port, tmp_path)
        assert not failure, f"{failure}\n--- gateway log (tail) ---\n{gw.tail()}"
    finally:
        await gw.ensure_stopped()


# The rule itself, on a README of its own and a server answering what it is asked.

DOC = """# Doc

<!-- not run: needs a terminal of its own -->

```sh
make run
```

```json
{"not": "sh"}
```

```sh
ID=$(curl -sS http://127.0.0.1:8080/status/201)
```

<!-- expect: 422 -->
```sh
curl -sS "http://127.0.0.1:8080/status/422?after=$ID"
```
"""


@pytest.fixture
async def statuses() -> AsyncIterator[int]:
    """A server answering `GET /status/{n}` with status n: its port."""

    async def answer(request: web.Request) -> web.Response:
        return web.Response(status=int(request.match_info["n"]), text="made")

    app = web.Application()
    app.router.add_get("/status/{n}", answer)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        assert server.port is not None
        yield server.port
    finally:
        await server.close()


def test_the_rule_runs_sh_blocks_in_order_unless_marked() -> None:
    run, skipped = examples(DOC)
    assert [b.line for b in run] == [13, 18]
    assert run[1].expect == {422}
    assert skipped == [Skipped(5, "needs a terminal of its own")]
    # A marker that would silently mark nothing, or another block, is an error.
    for doc in (
        "<!-- not run: stray -->\n\nsome prose\n\n```sh\nls\n```\n",
        "<!-- expect: 409 -->\n```json\n{}\n```\n\n```sh\nls\n```\n",
        "```sh\nls\n```\n<!-- not run: at the end -->\n",
    ):
        with pytest.raises(ValueError, match="not right before"):
            examples(doc)
    with pytest.raises(ValueError, match="malformed marker"):
        examples("<!-- not run -->\n```sh\nls\n```\n")


async def test_blocks_share_one_session_and_expected_statuses_pass(
    statuses: int, tmp_path: Path
) -> None:
    blocks, _ = examples(DOC)
    assert await run_examples(blocks, statuses, tmp_path) == ""


async def test_a_status_the_block_does_not_expect_fails_naming_the_block(
    statuses: int, tmp_path: Path
) -> None:
    blocks, _ = examples(DOC.replace("<!-- expect: 422 -->\n", ""))
    failure = await run_examples(blocks, statuses, tmp_path)
    assert failure.startswith("block 2 (README.md line 17): exit 22"), failure
    assert "HTTP 422, which the README does not expect" in failure


async def test_an_expected_status_never_answered_fails(statuses: int, tmp_path: Path) -> None:
    blocks, _ = examples(DOC.replace("/status/422", "/status/200"))
    failure = await run_examples(blocks, statuses, tmp_path)
    assert failure == "block 2 (README.md line 18) never answered [422]"
