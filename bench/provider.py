"""The Logitrail sandbox as its own process, so the provider does not share the gateway's loop.

python -m bench.provider --port 9101
"""

from __future__ import annotations

import argparse

from aiohttp import web

from gateway.sandbox.logitrail import LogitrailSandbox, SandboxClient

CLIENT_ID = "bench"
CLIENT_SECRET = "bench-secret"
MERCHANT = "M-BENCH"
SCOPES = frozenset({"orders:read", "orders:manage"})


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.provider")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    sandbox = LogitrailSandbox(
        clients=[SandboxClient(CLIENT_ID, CLIENT_SECRET, SCOPES)], merchant_id=MERCHANT
    )
    web.run_app(sandbox.app, host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
