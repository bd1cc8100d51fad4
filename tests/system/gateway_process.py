"""Run `gateway serve --config FILE` as a real child process, as operators do."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from gateway.config import StoreSettings

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class GatewayProcess:
    def __init__(self, config: Path, env: dict[str, str], log: Path) -> None:
        self.config = config
        self.env = env
        self.log = log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self, timeout: float = 20.0) -> None:
        env = {"PATH": os.environ.get("PATH", ""), "GATEWAY_LOG_FORMAT": "json", **self.env}
        with self.log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "gateway",
                "serve",
                "--config",
                str(self.config),
                "--port",
                str(self.port),
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=out,
            )
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self.proc.returncode is not None:
                    raise RuntimeError(f"gateway exited {self.proc.returncode}: {self.tail()}")
                try:
                    async with session.get(self.url + "/healthz") as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
        raise RuntimeError(f"gateway did not come up: {self.tail()}")

    async def kill(self) -> None:
        """SIGKILL: no clean-up of any kind runs."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    async def terminate(self, timeout: float = 20.0) -> int:
        """SIGTERM and wait: the graceful path."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.proc.wait(), timeout)

    async def ensure_stopped(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()

    def tail(self, lines: int = 40) -> str:
        if not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


async def read_phase(store_url: str, external_id: str) -> tuple[str, str]:
    """(phase, status) of an order, read straight from the store a gateway process uses (a
    SQLite file, read-only, or a PostgreSQL schema), not through the gateway."""
    sql = "SELECT phase, status FROM orders WHERE external_id = {}"
    row: Any
    if store_url.startswith("sqlite:"):
        path = StoreSettings(url=store_url).sqlite_path
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            row = conn.execute(sql.format("?"), (external_id,)).fetchone()
    else:
        pg = await asyncpg.connect(store_url)  # `?search_path=` picks the test's schema
        try:
            row = await pg.fetchrow(sql.format("$1"), external_id)
        finally:
            await pg.close()
    assert row is not None, f"no order {external_id} in {store_url}"
    return str(row[0]), str(row[1])


async def read_part_phases(store_url: str, external_id: str) -> list[str]:
    """The phase of each part of a split order (part 1 first), read straight from the store
    as `read_phase` does."""
    sql = (
        "SELECT p.phase FROM order_parts p JOIN orders o ON o.id = p.order_id"
        " WHERE o.external_id = {} ORDER BY p.part"
    )
    rows: Any
    if store_url.startswith("sqlite:"):
        path = StoreSettings(url=store_url).sqlite_path
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            rows = conn.execute(sql.format("?"), (external_id,)).fetchall()
    else:
        pg = await asyncpg.connect(store_url)
        try:
            rows = await pg.fetch(sql.format("$1"), external_id)
        finally:
            await pg.close()
    return [str(r[0]) for r in rows]


async def request(method: str, url: str, **kw: Any) -> tuple[int, Any, dict[str, str]]:
    async with aiohttp.ClientSession() as session, session.request(method, url, **kw) as resp:
        return resp.status, await resp.json(content_type=None), dict(resp.headers)
