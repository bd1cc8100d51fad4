"""The `gateway` command: serve, check-config, route (explain offline), migrate."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import orjson
from pydantic import ValidationError

from gateway.config import ConfigError, Settings, env_flag, load
from gateway.observability.logging import configure


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gateway", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the gateway")
    serve.add_argument("--config", required=True, type=Path)
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)

    check = sub.add_parser("check-config", help="validate a config file: prints ok or problems")
    check.add_argument("config", type=Path)

    route = sub.add_parser("route", help="explain how an order would be routed (offline)")
    route.add_argument("--config", required=True, type=Path)
    route.add_argument("order", type=Path, help="canonical order JSON file ('-' for stdin)")

    migrate = sub.add_parser("migrate", help="apply store migrations and exit")
    migrate.add_argument("--config", required=True, type=Path)

    args = parser.parse_args(argv)
    if args.command == "check-config":
        return _check_config(args.config)
    settings = _load_or_exit(args.config)
    configure(settings.logging.level, env_flag("GATEWAY_LOG_FORMAT", settings.logging.format))
    if args.command == "serve":
        return _serve(settings, args.host, args.port)
    if args.command == "route":
        return _route(settings, args.order)
    return asyncio.run(_migrate(settings))


def _check_config(path: Path) -> int:
    try:
        load(path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem)
        return 1
    print("ok")
    return 0


def _load_or_exit(path: Path) -> Settings:
    try:
        return load(path)
    except ConfigError as exc:
        print(f"gateway: {path} has problems:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        raise SystemExit(2) from None


def _serve(settings: Settings, host: str | None, port: int | None) -> int:
    from aiohttp import web  # noqa: PLC0415 (keep check-config light)

    from gateway.app import build_app, listen, own_url  # noqa: PLC0415
    from gateway.store import StoreUnavailable  # noqa: PLC0415

    server = settings.server.model_copy(
        update={k: v for k, v in (("host", host), ("port", port)) if v is not None}
    )
    settings = settings.model_copy(update={"server": server})  # keeps the resolved secrets
    try:
        sockets = listen(server.host, server.port)
    except OSError as exc:
        print(f"gateway: cannot listen on {server.host}:{server.port}: {exc}", file=sys.stderr)
        return 1
    app = build_app(settings, self_url=own_url(server.host, server.port))
    try:
        web.run_app(
            app,
            sock=sockets,
            print=None,
            shutdown_timeout=server.shutdown_timeout_s,
            access_log=None,
        )
    except StoreUnavailable as exc:  # at start-up: nothing was accepted yet
        print(f"gateway: cannot open the store: {exc}", file=sys.stderr)
        return 1
    finally:
        for sock in sockets:
            sock.close()
    return 0


def _route(settings: Settings, order_path: Path) -> int:
    from gateway.model.orders import CanonicalOrder  # noqa: PLC0415
    from gateway.routing.evaluate import explain_json, route  # noqa: PLC0415

    raw = sys.stdin.buffer.read() if str(order_path) == "-" else order_path.read_bytes()
    try:
        order = CanonicalOrder.model_validate_json(raw)
    except ValidationError as exc:
        print(exc, file=sys.stderr)
        return 1
    result = explain_json(route(order, settings.routing))
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    return 0 if result["decision"] is not None else 3


async def _migrate(settings: Settings) -> int:
    """Apply pending migrations and say which; safe to run from several places at once."""
    from gateway.store import StoreUnavailable, open_store  # noqa: PLC0415

    url = settings.store.url
    try:
        if url.startswith("sqlite:"):
            store = await open_store(url)
            await store.close()
            print("migrated")
            return 0
        from gateway.store import postgres_pool, postgres_schema  # noqa: PLC0415

        password = settings.store.password(settings.secrets)
        pool = await postgres_pool.connect_pool(
            url, max_size=1, password=password, wait_s=settings.store.connect_wait_s
        )
        try:
            async with pool.acquire() as conn:
                applied = await postgres_schema.migrate(conn)
        finally:
            await pool.close()
    except StoreUnavailable as exc:
        print(f"gateway: cannot migrate: {exc}", file=sys.stderr)
        return 1
    print(f"migrated: applied {applied}" if applied else "migrated: already up to date")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
