"""What the Makefile sets for `make run` and `make sandbox`, read from the Makefile itself."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def demo_env() -> dict[str, str]:
    """The Makefile's `DEMO_ENV`: variable → demo value."""
    text = (ROOT / "Makefile").read_text()
    found = re.search(r"^DEMO_ENV := ((?:.*\\\n)*.*)$", text, re.MULTILINE)
    assert found, "the Makefile defines DEMO_ENV"
    pairs = found.group(1).replace("\\\n", " ").split()
    return dict(pair.split("=", 1) for pair in pairs)


DEMO_ENV = demo_env()
DEMO_CLIENT_KEY = DEMO_ENV["GATEWAY_KEY_STOREFRONT_FI"]
"""The one demo secret printed on purpose: the README's curl lines use it."""
