"""The gateway's profile over a bench run: cProfile (`--profile`) or py-spy (`--py-spy`).

cProfile sees only the main thread and slows every Python call; py-spy samples every thread
of the running process from outside (the commit thread included) at almost no cost, so its
shares are the ones to believe. Both come out as text rows for the report.
"""

from __future__ import annotations

import asyncio
import pstats
import re
import shutil
import signal
import sys
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"(?P<func>.*) \((?P<file>.*?):\d+\)$")


def cprofile_top(path: Path, count: int = 25) -> list[str]:
    stats = pstats.Stats(str(path))
    rows = []
    for (file, line, func), (_cc, calls, tottime, cumtime, _callers) in sorted(
        stats.stats.items(),  # type: ignore[attr-defined]
        key=lambda item: item[1][2],
        reverse=True,
    )[:count]:
        rows.append(
            f"{tottime:8.3f}s self {cumtime:8.3f}s cum {calls:>8} {_short(file)}:{line} {func}"
        )
    return rows


class PySpy:
    """`py-spy record` attached to a running process until `stop()`; raw (collapsed) output."""

    def __init__(self, pid: int, out: Path, rate: int = 250) -> None:
        self.pid, self.out, self.rate = pid, out, rate
        self._proc: asyncio.subprocess.Process | None = None
        self.error: str | None = None

    async def start(self) -> None:
        exe = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which(
            "py-spy"
        )
        if exe is None:
            self.error = "py-spy is not installed (make bench installs it)"
            return
        self._proc = await asyncio.create_subprocess_exec(
            exe,
            *("record", "--pid", str(self.pid), "--rate", str(self.rate)),
            *("--format", "raw", "--threads", "--nonblocking", "-o", str(self.out)),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )

    async def stop(self) -> None:
        if self._proc is None:
            return
        if self._proc.returncode is None:
            self._proc.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        _, err = await self._proc.communicate()
        if not self.out.exists():
            self.error = f"py-spy wrote nothing: {err.decode(errors='replace').strip()[-300:]}"


def pyspy_top(path: Path, count: int = 20) -> list[str]:
    """Shares of the samples: per thread, by self (the innermost frame) and inclusive."""
    own: Counter[str] = Counter()
    areas: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        samples = int(n)
        total += samples
        thread, *frames = stack.split(";")
        threads[thread.split(":")[-1].strip() or thread] += samples
        names = [_frame(f) for f in frames]
        if names:
            own[names[-1]] += samples
            areas[_area(frames)] += samples
        for name in set(names):
            inclusive[name] += samples
    if not total:
        return ["(no samples)"]

    def share(counter: Counter[str], n: int) -> list[str]:
        return [f"{v / total:6.1%}  {k}" for k, v in counter.most_common(n)]

    gateway_inclusive = Counter(
        {k: v for k, v in inclusive.items() if "gateway/" in k and "__main__" not in k}
    )
    return [
        f"{total} samples",
        "-- threads",
        *share(threads, 4),
        "-- by area (of the innermost frame; logging: anywhere under structlog)",
        *share(areas, 10),
        "-- self (innermost frame)",
        *share(own, count),
        "-- inclusive, gateway code",
        *share(gateway_inclusive, count),
    ]


_AREAS = (
    ("structlog", "logging"),
    ("observability/logging", "logging"),
    ("store/group_commit.py", "sqlite (statements, inline commits)"),
    ("concurrent/futures", "sqlite commit thread"),
    ("aiohttp/", "aiohttp"),
    ("yarl/", "aiohttp"),
    ("multidict/", "aiohttp"),
    ("asyncio/", "asyncio"),
    ("selectors.py", "asyncio"),
    ("pydantic", "pydantic"),
    ("prometheus_client", "metrics"),
    ("gateway/", "gateway's own code"),
)


def _area(frames: list[str]) -> str:
    stack = ";".join(frames)
    if "structlog" in stack:  # a log call is logging, whatever it calls into
        return "logging"
    leaf = frames[-1]
    return next((area for mark, area in _AREAS if mark in leaf), "other")


def _frame(text: str) -> str:
    m = _FRAME.match(text)
    return f"{m['func']} ({_short(m['file'])})" if m else text


def _short(file: str) -> str:
    for prefix in ("site-packages/", "/work/main/", "python3.11/"):
        file = file.rsplit(prefix, maxsplit=1)[-1]
    return file
