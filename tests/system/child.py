"""A command as a process group of its own (`make` and the gateway it starts), output to a
file: started until a URL answers, stopped with SIGTERM to the whole group."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import aiohttp

from tests.system.gateway_process import ROOT


class Child:
    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.args = args
        self.env = {"PATH": os.environ.get("PATH", ""), **env}
        self.log = log
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self, ready_url: str, timeout: float = 30.0) -> None:
        """Run until `ready_url` answers (any status); `RuntimeError` with the output if not."""
        with self.log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                *self.args, cwd=ROOT, env=self.env, stdout=out, stderr=out, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self.proc.returncode is not None:
                    raise RuntimeError(f"{self.args} exited {self.proc.returncode}: {self.output}")
                try:
                    async with session.get(ready_url):
                        return
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.args}: {ready_url} did not answer: {self.output}")

    async def stop(self, timeout: float = 20.0) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            os.killpg(self.proc.pid, signal.SIGKILL)
            await self.proc.wait()

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""
