"""Start the sandbox and the gateway as child processes on loopback, and stop them for sure."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from contextlib import AsyncExitStack
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Child:
    """One child process serving HTTP on `port`; `ready_path` answers 2xx–4xx once it is up."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path, port: int):
        self.name, self.argv, self.env, self.log, self.port = name, argv, env, log, port
        self.url = f"http://127.0.0.1:{port}"
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self, ready_path: str, timeout: float = 30.0) -> None:
        with self.log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                *self.argv,
                cwd=ROOT,
                env={"PATH": os.environ.get("PATH", ""), **self.env},
                stdout=out,
                stderr=out,
            )
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                if self.proc.returncode is not None:
                    raise RuntimeError(f"{self.name} exited {self.proc.returncode}: {self.tail()}")
                try:
                    async with http.get(self.url + ready_path) as resp:
                        if resp.status < 500:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
        raise RuntimeError(f"{self.name} did not come up: {self.tail()}")

    async def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM (lets a profiler write its file), SIGKILL if it does not go."""
        if self.proc is None or self.proc.returncode is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


async def started(stack: AsyncExitStack, child: Child, ready_path: str) -> Child:
    """Start `child` and make `stack` stop it, whatever happens after."""
    stack.push_async_callback(child.stop)
    await child.start(ready_path)
    return child


def python(*args: str) -> list[str]:
    return [sys.executable, *args]
