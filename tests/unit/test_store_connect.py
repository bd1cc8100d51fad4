"""Opening a PostgreSQL store waits, within `store.connect_wait_s`, for a database that is not
reachable yet, and fails at once on what waiting cannot fix (an unknown role or database)."""

from __future__ import annotations

import asyncio
import contextlib
import struct
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from structlog.testing import capture_logs

from gateway.errors import StoreUnavailable
from gateway.store import open_store
from gateway.store.postgres_pool import RETRY_CAP_S
from tests.services import PostgresDatabase, free_port
from tests.unit.fakes import FakeClock, SkipAheadClock

_SSL_OR_GSS_REQUEST = {80877103, 80877104}
_STARTING_UP = b"".join(
    field + value.encode() + b"\0"
    for field, value in (
        (b"S", "FATAL"),
        (b"V", "FATAL"),
        (b"C", "57P03"),
        (b"M", "the database system is starting up"),
    )
)


class LateDatabase:
    """A port in front of the real PostgreSQL that first has nothing listening (refused), then
    answers as a server still recovering does (57P03), then forwards to the real server."""

    def __init__(self, real_url: str) -> None:
        parts = urlsplit(real_url)
        self._real = (parts.hostname or "127.0.0.1", parts.port or 5432)
        self.port = free_port()
        self.forwarding = False
        self._server: asyncio.Server | None = None

    async def listen(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if self.forwarding:
                await self._forward(reader, writer)
            else:
                await self._starting_up(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    @staticmethod
    async def _starting_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:  # an SSL request first (answered "no"), then the startup message
            (length,) = struct.unpack("!I", await reader.readexactly(4))
            body = await reader.readexactly(length - 4)
            if struct.unpack("!I", body[:4])[0] in _SSL_OR_GSS_REQUEST:
                writer.write(b"N")
                continue
            payload = _STARTING_UP + b"\0"
            writer.write(b"E" + struct.pack("!I", len(payload) + 4) + payload)
            await writer.drain()
            return

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self._real)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def url(self, real_url: str) -> str:
        parts = urlsplit(real_url)
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@127.0.0.1:{self.port}" if userinfo else f"127.0.0.1:{self.port}"
        return urlunsplit(parts._replace(netloc=netloc))


def _events(logs: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [e for e in logs if e["event"] == name]


async def _until(condition: Callable[[], bool], opening: asyncio.Task[Any]) -> None:
    """Wait for `condition`; an open that ended meanwhile stops the wait (its result tells)."""
    deadline = time.monotonic() + 10
    while not condition() and not opening.done():
        assert time.monotonic() < deadline, "the open neither ended nor got there"
        await asyncio.sleep(0.01)


async def test_a_database_that_comes_up_late_is_waited_for(postgres_db: PostgresDatabase) -> None:
    real = await postgres_db.new_schema_url()
    late = LateDatabase(real)
    try:
        with capture_logs() as logs:
            clock = SkipAheadClock()
            opening = asyncio.create_task(
                open_store(late.url(real), connect_wait_s=300, clock=clock)
            )

            def retries() -> list[dict[str, Any]]:
                return _events(logs, "store.connect.retry")

            await _until(lambda: bool(retries()), opening)  # refused: nothing listens
            await late.listen()
            # The retries wait on the clock: skip to the next one (a retry waits at most
            # RETRY_CAP_S), which has run by the time `advance` returns.
            await clock.advance(RETRY_CAP_S)
            assert any("starting up" in e["error"] for e in retries()), retries()
            late.forwarding = True
            await clock.advance(RETRY_CAP_S)
            store = await asyncio.wait_for(opening, 30)
        await store.ping()
        await store.close()
    finally:
        await late.close()
    errors = [e["error"] for e in retries()]
    assert errors[0].startswith("ConnectionRefusedError: "), errors
    assert any(
        e.startswith("CannotConnectNowError: the database system is starting up") for e in errors
    ), errors
    assert [e["attempt"] for e in retries()] == list(range(1, len(errors) + 1))
    assert all(e["target"] == f"127.0.0.1:{late.port}/{urlsplit(real).path[1:]}" for e in retries())
    assert not _events(logs, "store.connect.gave_up")


async def test_a_bound_that_runs_out_gives_one_clear_error_and_no_password() -> None:
    port = free_port()
    url = f"postgresql://gw:s3cr3t-pw@127.0.0.1:{port}/gw?password=s3cr3t-pw&search_path=a"
    with capture_logs() as logs, pytest.raises(StoreUnavailable) as info:
        await open_store(url, connect_wait_s=0.5, clock=FakeClock())
    message = str(info.value)
    assert message.startswith(f"PostgreSQL at 127.0.0.1:{port}/gw still unreachable after ")
    assert "(store.connect_wait_s = 0.5): ConnectionRefusedError: " in message
    assert "\n" not in message
    assert _events(logs, "store.connect.retry")
    (gave_up,) = _events(logs, "store.connect.gave_up")
    assert gave_up["attempts"] == len(_events(logs, "store.connect.retry")) + 1
    assert "s3cr3t" not in message + repr(logs)


async def test_no_wait_tries_once() -> None:
    port = free_port()
    with capture_logs() as logs, pytest.raises(StoreUnavailable) as info:
        await open_store(f"postgresql://127.0.0.1:{port}/gw", connect_wait_s=0)
    assert str(info.value).startswith(f"cannot connect to PostgreSQL at 127.0.0.1:{port}/gw: ")
    assert not logs


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"user": "gw_no_such_role"}, 'InvalidAuthorizationSpecificationError: role "gw_no_such'),
        ({"database": "gw_no_such_db"}, 'InvalidCatalogNameError: database "gw_no_such_db"'),
    ],
)
async def test_what_waiting_cannot_fix_fails_at_once(
    postgres_db: PostgresDatabase, change: dict[str, str], says: str
) -> None:
    parts = urlsplit(postgres_db.url)
    host = parts.netloc.rpartition("@")[2]
    user = change.get("user", parts.username)
    netloc = f"{user}@{host}" if user else host
    path = "/" + change.get("database", parts.path[1:])
    url = urlunsplit(parts._replace(netloc=netloc, path=path))
    with capture_logs() as logs, pytest.raises(StoreUnavailable) as info:
        await open_store(url, connect_wait_s=5)
    assert str(info.value).startswith(f"cannot connect to PostgreSQL at {host}{path}: {says}")
    assert not _events(logs, "store.connect.retry")
