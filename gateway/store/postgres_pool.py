"""The PostgreSQL pool: how it connects, what it waits for at start-up, and which errors mean
"the database is not there" (`UNAVAILABLE`, turned into `StoreUnavailable` by the runner)."""

from __future__ import annotations

import random
import ssl

import asyncpg
import structlog

from gateway.clock import Clock, SystemClock
from gateway.errors import StoreUnavailable
from gateway.transport.backoff import backoff_delay

log = structlog.get_logger(__name__)

# What a database that is starting, restarting or failing over answers: worth waiting for at
# start-up. A wrong password, an unknown role or database, a bad setting or a certificate that
# does not verify stays wrong however long we wait, so it fails at once.
TRANSIENT: tuple[type[BaseException], ...] = (
    OSError,  # refused, unreachable, DNS not (yet) resolving, reset
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,  # 57P03 "the database system is starting up"
    asyncpg.exceptions.InsufficientResourcesError,  # 53300 too many connections
)

# What "the database is not there" looks like through asyncpg once running (a connection the
# pool lost, too); anything else is a bug or a constraint and propagates as it is.
UNAVAILABLE: tuple[type[BaseException], ...] = (*TRANSIENT, asyncpg.InterfaceError)
_CONFIGURATION = (ssl.SSLCertVerificationError,)

CONNECT_TIMEOUT_S = 5.0
"""A database that does not answer a new connection within this is down (`/readyz` says so
instead of hanging)."""
COMMAND_TIMEOUT_S = 30.0
"""No statement of ours runs this long; one that does is stuck behind a lock or a dead server."""
RETRY_BASE_S = 0.25
RETRY_CAP_S = 5.0
"""Start-up retries: quick at first (a database moments from ready), then every few seconds."""

_rng = random.Random()  # noqa: S311 (jitter, not crypto)


def where(url: str) -> str:
    """`postgresql://user:secret@db:5432/app?…` → `db:5432/app`: the URL without credentials
    or query (which may carry `password=`), fit for logs and error messages."""
    rest = url.partition("://")[2].partition("?")[0].partition("#")[0]
    return rest.rpartition("@")[2]  # the last @: a password may hold one, or a /


def _one_line(exc: BaseException) -> str:
    # asyncpg appends DETAIL and HINT on lines of their own; the exit message is one line.
    return " ".join(f"{type(exc).__name__}: {exc}".split())


async def _rollback_if_open(conn: asyncpg.Connection) -> None:
    """The pool's reset on release: only what this store can leave behind — a transaction a
    cancelled caller left open. asyncpg's default also sends RESET ALL, UNLISTEN, CLOSE ALL and
    unlocks advisory locks, none of which the store uses at session level (its settings are
    `SET LOCAL`, its lock transaction-scoped): a round trip on every release, ~5 per order."""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


async def connect_pool(
    url: str,
    *,
    max_size: int,
    password: str | None = None,
    wait_s: float = 0.0,
    clock: Clock | None = None,
) -> asyncpg.Pool:
    """A pool on `url`; query parameters other than libpq's are server settings
    (`?search_path=tenant_a` puts the gateway's tables in that schema).

    A database that is not reachable yet (starting, failing over) is retried with jittered
    exponential backoff until `wait_s` has passed since the first attempt (0: one attempt);
    each attempt itself gives up after `CONNECT_TIMEOUT_S`. The wait is timed by `clock` (by
    default the system's); an attempt's own timeout is real time, as its I/O is.
    """
    clock = clock or SystemClock()
    target = where(url)
    started = clock.monotonic()
    attempt = 0
    while True:
        attempt += 1
        try:
            pool = await asyncpg.create_pool(
                url,
                min_size=1,
                max_size=max_size,
                timeout=CONNECT_TIMEOUT_S,
                command_timeout=COMMAND_TIMEOUT_S,
                password=password,
                reset=_rollback_if_open,
            )
        except _CONFIGURATION as exc:
            raise _unavailable(target, exc) from exc
        except TRANSIENT as exc:
            waited = clock.monotonic() - started
            if waited >= wait_s:
                if attempt == 1:
                    raise _unavailable(target, exc) from exc
                log.error(
                    "store.connect.gave_up", target=target, attempts=attempt, error=_one_line(exc)
                )
                raise StoreUnavailable(
                    f"PostgreSQL at {target} still unreachable after {attempt} attempts in"
                    f" {waited:.1f} s (store.connect_wait_s = {wait_s:g}): {_one_line(exc)}"
                ) from exc
            delay = min(
                wait_s - waited,
                backoff_delay(attempt, base=RETRY_BASE_S, cap=RETRY_CAP_S, rng=_rng),
            )
            log.warning(
                "store.connect.retry",
                target=target,
                attempt=attempt,
                delay_s=round(delay, 3),
                error=_one_line(exc),
            )
            await clock.sleep(delay)
        except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            # no such role or database, wrong password, a bad setting: waiting will not help
            raise _unavailable(target, exc) from exc
        else:
            assert pool is not None
            if attempt > 1:
                log.info("store.connect.connected", target=target, attempts=attempt)
            return pool


def _unavailable(target: str, exc: BaseException) -> StoreUnavailable:
    return StoreUnavailable(f"cannot connect to PostgreSQL at {target}: {_one_line(exc)}")
