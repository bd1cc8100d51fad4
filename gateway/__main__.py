"""The `gateway` command: serve, check-config, route (offline), migrate, sandbox.

Every command takes `--config FILE` (`check-config FILE` works too). Each resolves only the
secrets it uses: `route` none (`route --replay` the store password), `migrate` the store
password, `sandbox` the providers' own, `serve` all. Exit codes: 0 done; 1 failed
(check-config: the file is invalid; route: the order is not a canonical order, or the
`--stock` file is not a stock file; route --replay:
the rules file is invalid, the window or tenant is not one, the store is missing or behind; a
store or port that cannot be opened); 2 the configuration cannot be used (check-config: the
file is valid, the environment lacks what it names; a usage error); 3 route: no rule takes
the order.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Collection, Mapping
from pathlib import Path
from urllib.parse import urlsplit

import orjson

from gateway.config import Settings, env_flag
from gateway.config_load import load
from gateway.errors import ConfigError, ConfigProblem
from gateway.observability.logging import configure

# Which `*_env` keys each command resolves (None: every one); see `config_load.load`.
SECRETS_USED: dict[str, Collection[str] | None] = {
    "serve": None,
    "route": (),
    "route --replay": ("store.password_env",),
    "migrate": ("store.password_env",),
    "sandbox": ("providers",),
}
SANDBOX_PORT = 8081


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gateway", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the gateway")
    serve.add_argument("--config", required=True, type=Path)
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)

    check = sub.add_parser(
        "check-config", help="is the file valid, and does the environment hold what it names"
    )
    check.add_argument("file", nargs="?", type=Path, help="the config file (or --config)")
    check.add_argument("--config", type=Path)
    check.add_argument(
        "--file-only", action="store_true", help="check the file, not the environment"
    )

    route = sub.add_parser(
        "route",
        help="explain how an order would be routed, or replay proposed rules over the stored"
        " orders (offline)",
    )
    route.add_argument("--config", required=True, type=Path)
    route.add_argument(
        "order", nargs="?", type=Path, help="canonical order JSON file ('-' for stdin)"
    )
    route.add_argument(
        "--stock",
        metavar="STOCK.json",
        type=Path,
        help='stock to plan on: {"<provider>": {"<warehouse>": {"<sku>": units}}} (what it'
        ' leaves out is "stock unknown")',
    )
    replaying = route.add_argument_group(
        "replay", "proposed rules against a tenant's stored orders (the store is only read)"
    )
    replaying.add_argument(
        "--replay",
        metavar="RULES.toml",
        type=Path,
        help="[routing] and/or [[holds]], as in the config file",
    )
    replaying.add_argument(
        "--since", metavar="INSTANT", help="orders created at or after (ISO 8601, with a zone)"
    )
    replaying.add_argument(
        "--until", metavar="INSTANT", help="orders created before (default: now)"
    )
    replaying.add_argument(
        "--limit", metavar="N", type=int, help="the oldest N (1-10000, default 1000)"
    )
    replaying.add_argument("--tenant", metavar="CLIENT_ID", help="needed with several clients")

    migrate = sub.add_parser("migrate", help="apply store migrations and exit")
    migrate.add_argument("--config", required=True, type=Path)

    sandbox = sub.add_parser(
        "sandbox", help="serve the provider simulators alone, under /_sandbox/<provider>"
    )
    sandbox.add_argument("--config", type=Path, default=Path("config/gateway.toml"))
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=SANDBOX_PORT)
    sandbox.add_argument(
        "--webhooks-to",
        metavar="URL",
        help="the gateway the simulators send webhooks to (<URL>/v1/webhooks/<provider>);"
        " without it they send none",
    )

    args = parser.parse_args(argv)
    if args.command == "check-config":
        if (args.file is None) == (args.config is None):
            check.error("give the config file once: check-config FILE or --config FILE")
        return _check_config(args.file or args.config, file_only=args.file_only)
    if args.command == "sandbox" and args.webhooks_to is not None:
        parts = urlsplit(args.webhooks_to)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            sandbox.error("--webhooks-to must be an http(s) URL, e.g. http://127.0.0.1:8080")
    command = args.command
    if command == "route":
        command = _route_usage(route, args)
    settings = _load_or_exit(args.config, SECRETS_USED[command])
    configure(
        settings.logging.level,
        env_flag("GATEWAY_LOG_FORMAT", settings.logging.format),
        cache_loggers=True,  # configured once for the process's life
    )
    if args.command == "serve":
        return _serve(settings, args.host, args.port)
    if command == "route --replay":
        from gateway.replay_cli import ReplayArgs, run  # noqa: PLC0415

        asked = ReplayArgs(args.replay, args.since, args.until, args.limit, args.tenant)
        return asyncio.run(run(settings, asked, now=time.time()))
    if command == "route":
        return _route(settings, args.order, args.stock)
    if args.command == "sandbox":
        return _sandbox(settings, args.config, args.host, args.port, args.webhooks_to)
    return asyncio.run(_migrate(settings))


def _route_usage(parser: argparse.ArgumentParser, args: argparse.Namespace) -> str:
    """`route` with an order file, or `route --replay` with `--since`: which one (or exit 2)."""
    if args.replay is None:
        flags = ("since", "until", "limit", "tenant")
        given = [f"--{flag}" for flag in flags if getattr(args, flag) is not None]
        if args.order is None:
            parser.error("give an order file, or --replay RULES.toml --since …")
        if given:
            parser.error(f"{', '.join(given)} only go with --replay")
        return "route"
    if args.order is not None:
        parser.error("give an order file or --replay RULES.toml, not both")
    if args.stock is not None:
        parser.error("--stock goes with an order file, not with --replay")
    if args.since is None:
        parser.error("--replay needs --since (ISO 8601 with a zone, e.g. 2026-12-01T00:00:00Z)")
    return "route --replay"


def _check_config(path: Path, *, file_only: bool) -> int:
    """`file: ok` or each problem of the file (exit 1); then, unless `file_only`,
    `environment: ok` or each variable missing or unusable (exit 2 if the file is valid)."""
    try:
        load(path)
    except ConfigError as exc:
        problems = exc.problems
    else:
        problems = []
    in_file = [p for p in problems if p.variable is None]
    in_env = [p for p in problems if p.variable is not None]
    for line in [str(p) for p in in_file] or ["ok"]:
        print(f"file: {line}")
    if not file_only:
        for line in [_environment(p) for p in in_env] or ["ok"]:
            print(f"environment: {line}")
    if in_file:
        return 1
    return 2 if in_env and not file_only else 0


def _environment(problem: ConfigProblem) -> str:
    if problem.missing:
        return f"missing {problem.variable} ({problem.loc})"
    return f"{problem.loc}: {problem.msg}"


def _load_or_exit(path: Path, secrets_under: Collection[str] | None) -> Settings:
    try:
        return load(path, secrets_under=secrets_under)
    except ConfigError as exc:
        print(f"gateway: {path} has problems:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        raise SystemExit(2) from None


def _serve(settings: Settings, host: str | None, port: int | None) -> int:
    from aiohttp import web  # noqa: PLC0415 (keep check-config light)

    from gateway.app import build_app, listen, own_url  # noqa: PLC0415
    from gateway.errors import StoreUnavailable  # noqa: PLC0415

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


def _route(settings: Settings, order_path: Path, stock_path: Path | None) -> int:
    """The routing trace on stdout, as `POST /v1/routing/explain` answers it (exit 0, or 3 when
    no rule takes the order); an order that is not one: the API's 422 problem (exit 1).
    `stock_path`: the stock file it plans on (`gateway.routing.stock_file`); one that is not
    one: each problem on stderr (exit 1)."""
    from gateway.api.body import decode  # noqa: PLC0415
    from gateway.errors import ProblemError  # noqa: PLC0415
    from gateway.model.orders import CanonicalOrder  # noqa: PLC0415
    from gateway.model.view import instant  # noqa: PLC0415
    from gateway.routing.evaluate import explain_json, route  # noqa: PLC0415
    from gateway.routing.holds import held, hold_json  # noqa: PLC0415

    try:
        raw = sys.stdin.buffer.read() if str(order_path) == "-" else order_path.read_bytes()
    except OSError as exc:
        print(f"gateway: cannot read {order_path}: {exc.strerror}", file=sys.stderr)
        return 1
    try:
        order = decode(raw, CanonicalOrder)
    except ProblemError as problem:
        _print_json(problem.body(str(order_path)))
        return 1
    stock = _stock_or_none(settings, stock_path) if stock_path is not None else {}
    if stock is None:
        return 1
    now = instant(time.time())
    result = explain_json(route(order, settings.routing, now=now, stock=stock))
    result |= hold_json(held(order, settings.holds, now))
    _print_json(result)
    if result["decision"] is None:
        print(f"gateway: unroutable: {result['reason']}", file=sys.stderr)
        return 3
    return 0


def _stock_or_none(
    settings: Settings, path: Path
) -> Mapping[tuple[str, str], Mapping[str, int]] | None:
    """The stock file's snapshots; None (each problem said on stderr) if it is not one."""
    from gateway.routing.stock_file import StockFileError, parse_stock  # noqa: PLC0415

    try:
        raw = path.read_bytes()
    except OSError as exc:
        print(f"gateway: cannot read {path}: {exc.strerror}", file=sys.stderr)
        return None
    configured = {name: list(p.warehouses) for name, p in settings.providers.items()}
    try:
        return parse_stock(raw, configured)
    except StockFileError as exc:
        print(f"gateway: {path} is not a stock file:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return None


def _print_json(value: object) -> None:
    print(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())


async def _migrate(settings: Settings) -> int:
    """Apply pending migrations and say which; safe to run from several places at once."""
    from gateway.errors import StoreUnavailable  # noqa: PLC0415

    url = settings.store.url
    try:
        if url.startswith("sqlite:"):
            from gateway.store.sqlite import migrate_file  # noqa: PLC0415

            applied = await migrate_file(url)
        else:
            applied = await _migrate_postgres(settings)
    except StoreUnavailable as exc:
        print(f"gateway: cannot migrate: {exc}", file=sys.stderr)
        return 1
    print(f"migrated: applied {applied}" if applied else "migrated: already up to date")
    return 0


async def _migrate_postgres(settings: Settings) -> list[int]:
    from gateway.store import postgres, postgres_pool  # noqa: PLC0415 (optional)

    pool = await postgres_pool.connect_pool(
        settings.store.url,
        max_size=1,
        password=settings.store.password(settings.secrets),
        wait_s=settings.store.connect_wait_s,
    )
    try:
        async with pool.acquire() as conn:
            return await postgres.migrate(conn)
    finally:
        await pool.close()


def _sandbox(
    settings: Settings, config: Path, host: str, port: int, webhooks_to: str | None
) -> int:
    """The simulators alone on `host:port`; says what it serves and which variables hold the
    credentials each accepts (never their values)."""
    from aiohttp import web  # noqa: PLC0415

    from gateway.app import listen, own_url  # noqa: PLC0415
    from gateway.sandbox.mounts import PREFIX, credential_variables, standalone_app  # noqa: PLC0415

    try:
        sockets = listen(host, port)
    except OSError as exc:
        print(f"gateway: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        return 1
    url = own_url(host, sockets[0].getsockname()[1])
    app, served = standalone_app(settings, self_url=url, webhooks_to=webhooks_to)
    if not served:
        print(f"gateway: {config} configures no provider that has a sandbox", file=sys.stderr)
        return 1
    print(f"Provider sandboxes on {url}, as {config} configures them:")
    for name in served:
        base = settings.providers[name].base_url
        api = url + base if base.startswith("/") else f"{url}{PREFIX}/{name}"
        names = ", ".join(credential_variables(settings, name))
        print(f"  {name:<10} {api}  (credentials from {names})")
    if webhooks_to is None:
        print("Webhooks: none sent (--webhooks-to URL sends them to <URL>/v1/webhooks/<provider>)")
    else:
        print(f"Webhooks: to {webhooks_to.rstrip('/')}/v1/webhooks/<provider>")
    print(f"Faults and state: {url}{PREFIX}/<provider>/_control/... (see the README)", flush=True)
    try:
        web.run_app(app, sock=sockets, print=None, access_log=None, shutdown_timeout=5)
    finally:
        for sock in sockets:
            sock.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
