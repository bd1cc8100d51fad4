"""Real PostgreSQL and Redis for tests: the machine's own, or throw-away ones we start.

PostgreSQL: `GATEWAY_TEST_POSTGRES_URL` (default `postgresql://127.0.0.1:5432/test`). If
nothing answers there, a cluster is `initdb`ed in a temp dir from the installed server binaries
(`/usr/lib/postgresql/*/bin`, or `initdb` on PATH) and started on a free port. Each test session
works in a database of its own (created here, dropped at the end), and each test in a schema
of its own, so engineers sharing one server never see each other's rows.

Redis: `GATEWAY_TEST_REDIS_URL` (default `redis://127.0.0.1:6379/0`), else `redis-server` on a
free port. Tests use a key prefix of their own and delete their keys afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg

T = TypeVar("T")
DEFAULT_POSTGRES = "postgresql://127.0.0.1:5432/test"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` to the end on a loop of its own, in a thread: session fixtures may be set
    up while a test's event loop is already running."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


class Unavailable(Exception):
    """Neither the configured server nor a throw-away one could be had (the skip reason)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def with_database(url: str, database: str, query: str = "") -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", query, ""))


# PostgreSQL ------------------------------------------------------------------------------


async def _pg_answers(url: str) -> str | None:
    try:
        conn = await asyncpg.connect(url, timeout=3)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        return f"{type(exc).__name__}: {exc}"
    await conn.close()
    return None


def _pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    return found[0] if found else shutil.which(name)


@contextlib.contextmanager
def _throwaway_cluster() -> Iterator[str]:
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if initdb is None or pg_ctl is None:
        raise Unavailable("no initdb/pg_ctl under /usr/lib/postgresql/*/bin or on PATH")
    user = None
    if os.geteuid() == 0:  # the server refuses to run as root
        try:
            user = pwd.getpwnam("postgres").pw_name
        except KeyError:
            raise Unavailable("running as root and there is no 'postgres' user") from None
    root = Path(tempfile.mkdtemp(prefix="gw-pg-"))
    data, port = root / "data", free_port()
    if user is not None:
        shutil.chown(root, user)
    try:
        subprocess.run(
            [initdb, "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"],
            user=user,
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [
                pg_ctl,
                "-D",
                str(data),
                "-l",
                str(root / "log"),
                "-w",
                "-o",
                f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off",
                "start",
            ],
            user=user,
            check=True,
            capture_output=True,
        )
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(root, ignore_errors=True)
        raise Unavailable(f"throw-away cluster failed: {exc.stderr.decode()[-500:]}") from None
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [pg_ctl, "-D", str(data), "-m", "immediate", "stop"],
            user=user,
            check=False,
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class PostgresDatabase:
    admin_url: str
    url: str
    """A database created for this test session."""

    async def new_schema_url(self) -> str:
        """A fresh schema in the session's database, as a store URL (`?search_path=`)."""
        schema = f"t_{uuid.uuid4().hex[:12]}"
        await _admin(self.url, f"CREATE SCHEMA {schema}")
        return f"{self.url}?search_path={schema}"


async def _admin(url: str, *statements: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@contextlib.contextmanager
def postgres_session() -> Iterator[PostgresDatabase]:
    """A database of this session's own, on the configured server or a throw-away one."""
    url = os.environ.get("GATEWAY_TEST_POSTGRES_URL", DEFAULT_POSTGRES)
    with contextlib.ExitStack() as stack:
        problem = _run(_pg_answers(url))
        if problem is not None:
            try:
                url = stack.enter_context(_throwaway_cluster())
            except Unavailable as exc:
                raise Unavailable(
                    f"PostgreSQL at {url} does not answer ({problem}); {exc}"
                ) from None
        name = f"gw_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        _run(_admin(url, f"CREATE DATABASE {name}"))
        try:
            yield PostgresDatabase(url, with_database(url, name))
        finally:
            with contextlib.suppress(Exception):
                _run(_drop_test_databases(url, name))


async def _drop_test_databases(url: str, session_db: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        names = [session_db] + [
            r["datname"]
            for r in await conn.fetch(
                "SELECT datname FROM pg_database WHERE datname LIKE $1", f"gw_test_{os.getpid()}_%"
            )
            if r["datname"] != session_db
        ]
        for name in names:
            await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await conn.close()


# Redis -----------------------------------------------------------------------------------


def _redis_answers(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), 2) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextlib.contextmanager
def redis_session() -> Iterator[str]:
    """A Redis URL: the configured server, or a throw-away `redis-server` on a free port."""
    url = os.environ.get("GATEWAY_TEST_REDIS_URL", DEFAULT_REDIS)
    if _redis_answers(url):
        yield url
        return
    binary = shutil.which("redis-server")
    if binary is None:
        raise Unavailable(f"Redis at {url} does not answer and redis-server is not installed")
    root, port = Path(tempfile.mkdtemp(prefix="gw-redis-")), free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"redis://127.0.0.1:{port}/0"
        deadline = time.monotonic() + 10
        while not _redis_answers(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise Unavailable(f"redis-server on port {port} did not start")
            time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(root, ignore_errors=True)
