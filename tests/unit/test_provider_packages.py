"""Every provider package has the same shape, so that adding one touches nothing else.

The layout (docs/architecture.md, "Adding a provider"): the same modules in each, each
exporting the same kinds of things; an adapter whose capability flags say exactly which
optional protocols it implements; pure translation modules; golden files and a page.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import gateway.providers
from gateway.config import ProviderSettings
from gateway.model.orders import Status
from gateway.model.returns import ReturnStatus
from gateway.providers.base import (
    OrderCanceller,
    OrderUpdater,
    Provider,
    ReturnDecider,
    ReturnsProvider,
    StockSource,
    WebhookReceiver,
    canceller_of,
    decisions_of,
    returns_of,
    stock_of,
    updater_of,
    webhooks_of,
)
from gateway.providers.http import HttpProvider
from gateway.providers.spec import ProviderContext, load_spec
from tests.conftest import make_settings

ROOT = Path(__file__).parents[2]
NAMES = sorted(m.name for m in pkgutil.iter_modules(gateway.providers.__path__) if m.ispkg)
REQUIRED = {"__init__", "adapter", "problems", "settings", "statuses", "translate", "webhooks"}
RETURNS = {"returns", "translate_returns"}
"""Both or neither: the composed returns part (I/O) and its pure translation."""
OPTIONAL = {"catalog", "stock", "translate_inventory", "translate_products"}
PURE = {
    "problems",
    "statuses",
    "translate",
    "translate_inventory",
    "translate_products",
    "translate_returns",
    "webhooks",
}
IMPURE_IMPORTS = ("aiohttp", "asyncio", "structlog", "gateway.transport", "gateway.store")
# capability flag → (protocol, lookup); `confirm` is a step of `Provider` itself.
OPTIONAL_PROTOCOLS: dict[str, tuple[type, Any]] = {
    "cancel": (OrderCanceller, canceller_of),
    "update": (OrderUpdater, updater_of),
    "stock": (StockSource, stock_of),
    "webhooks": (WebhookReceiver, webhooks_of),
}


def _modules(name: str) -> set[str]:
    folder = ROOT / "gateway" / "providers" / name
    return {p.stem for p in folder.glob("*.py")}


def _module(name: str, module: str) -> ModuleType:
    return importlib.import_module(f"gateway.providers.{name}.{module}")


def _built(name: str, tmp_path: Path) -> Provider:
    """The adapter as the gateway builds it, every optional feature configured."""
    url = "http://127.0.0.1:9"
    settings = make_settings(
        tmp_path,
        url,
        url,
        url,
        providers__logitrail__webhook_token_env="LOGITRAIL_WEBHOOK_TOKEN",
        providers__flexport__returns_enabled=True,
    )
    spec = load_spec(name)
    return spec.build(settings.providers[name], settings.secrets, ProviderContext(self_url=url))


def test_there_are_providers() -> None:
    assert NAMES == ["flexport", "logentic", "logitrail"]


@pytest.mark.parametrize("name", NAMES)
def test_the_package_holds_the_same_modules(name: str) -> None:
    modules = _modules(name)
    assert modules >= REQUIRED
    assert modules & RETURNS in (set(), RETURNS)
    assert modules <= REQUIRED | RETURNS | OPTIONAL, modules - REQUIRED - RETURNS - OPTIONAL


@pytest.mark.parametrize("name", NAMES)
def test_the_spec_names_its_package_and_settings(name: str) -> None:
    spec = load_spec(name)
    assert spec.name == name
    assert issubclass(spec.settings, ProviderSettings)
    assert spec.settings.__module__ == f"gateway.providers.{name}.settings"


@pytest.mark.parametrize("name", NAMES)
def test_the_adapter_is_one_http_provider_with_one_path_table(name: str) -> None:
    module = _module(name, "adapter")
    [adapter] = [
        v
        for v in vars(module).values()
        if isinstance(v, type) and issubclass(v, HttpProvider) and v.__module__ == module.__name__
    ]
    assert adapter.__name__ == f"{name.capitalize()}Adapter"
    assert adapter.name == name
    for op, (method, path) in adapter.PATHS.items():
        assert method in ("GET", "POST", "PUT", "PATCH", "DELETE"), op
        assert path.startswith("/"), op


@pytest.mark.parametrize("name", NAMES)
def test_capabilities_say_which_protocols_the_adapter_implements(name: str, tmp_path: Path) -> None:
    provider = _built(name, tmp_path)
    assert isinstance(provider, Provider)
    caps = provider.capabilities
    for flag, (protocol, lookup) in OPTIONAL_PROTOCOLS.items():
        assert isinstance(provider, protocol) is getattr(caps, flag), flag
        assert (lookup(provider) is provider) is getattr(caps, flag), flag
    part = getattr(provider, "returns", None)
    assert (part is not None) is ("returns" in _modules(name))
    assert isinstance(part, ReturnsProvider) is caps.returns
    assert returns_of(provider) is (part if caps.returns else None)
    assert isinstance(part, ReturnDecider) is caps.return_decisions
    assert (decisions_of(provider) is not None) is caps.return_decisions


@pytest.mark.parametrize("name", NAMES)
def test_each_module_exports_its_kind_of_things(name: str) -> None:
    statuses = _module(name, "statuses")
    assert statuses.STATUSES
    assert all(isinstance(s, Status) for s in statuses.STATUSES.values())
    expected = {
        "statuses": ["status_of"],
        "translate": ["check", "order_id_of", "order_of"],
        "problems": ["to_error", "field_errors", "FIELD_LOCS"],
        "webhooks": ["verify", "events"],
    }
    if "returns" in _modules(name):
        assert all(isinstance(s, ReturnStatus) for s in statuses.RETURN_STATUSES.values())
        expected["statuses"].append("return_status_of")
        expected["translate_returns"] = ["to_return", "answered_return", "found_returns"]
    for module, names in expected.items():
        found = vars(_module(name, module))
        assert [n for n in names if n not in found] == [], module


@pytest.mark.parametrize("name", NAMES)
def test_translation_modules_are_pure(name: str) -> None:
    for module in PURE & _modules(name):
        source = (ROOT / "gateway" / "providers" / name / f"{module}.py").read_text()
        imported = set()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
        siblings = {f"gateway.providers.{name}.{m}" for m in _modules(name) - PURE}
        bad = {
            i
            for i in imported
            if i.split(".")[0] in IMPURE_IMPORTS
            or i.startswith(IMPURE_IMPORTS)
            or i.startswith("gateway.providers.http")
            or i in siblings
        }
        assert bad == set(), f"{name}/{module}.py"


@pytest.mark.parametrize("name", NAMES)
def test_the_provider_has_its_golden_files_and_its_page(name: str) -> None:
    contract = ROOT / "tests" / "contract"
    assert list((contract / name).glob("*.order.json"))
    assert list((contract / name / "answers").glob("*.answer.json"))
    assert (contract / f"test_{name}_answers.py").exists()
    assert (contract / name / "requests.json").exists()
    if "returns" in _modules(name):
        assert list((contract / name / "returns").glob("*.return.json"))
    assert (ROOT / "docs" / "providers" / f"{name}.md").exists()
