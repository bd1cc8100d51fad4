# Two commands matter: `make run` and `make test`. Both build .venv themselves.
SHELL := /bin/bash
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	&& { command -v $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
CONFIG ?= config/gateway.toml
PORT ?= 8080
SANDBOX_PORT ?= 8081

# Demo secrets for the in-process sandbox: set here, never written into a config file, and
# never echoed (recipes that use them start with @). Only the client key is printed: the
# README's curl lines use it. (The demo operator's key is in config/gateway.toml as a digest.)
DEMO_ENV := GATEWAY_KEY_STOREFRONT_FI=demo-storefront-fi-key \
	LOGITRAIL_CLIENT_ID=demo-gateway LOGITRAIL_CLIENT_SECRET=demo-secret \
	LOGENTIC_API_TOKEN=demo-logentic-token LOGENTIC_WEBHOOK_SECRET=demo-webhook-secret \
	LOGITRAIL_WEBHOOK_TOKEN=demo-logitrail-webhook-token \
	FLEXPORT_TOKEN=demo-flexport-token FLEXPORT_WEBHOOK_SECRET=demo-flexport-webhook-token \
	DEMO_SUBSCRIBER_SECRET=whsec_ZGVtby1zdWJzY3JpYmVyLXNpZ25pbmcta2V5LTMyYnk=

.PHONY: run test lint bench sandbox clean check-python

check-python:
	@test -n "$(PYTHON)" || { echo "make: need Python 3.11 or newer on PATH" >&2; exit 1; }

$(BIN)/python: | check-python
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	@mkdir -p var
	@echo "Gateway on http://127.0.0.1:$(PORT) (sandboxes in-process). In another terminal:"
	@echo
	@echo "  curl -sS -i -X POST http://127.0.0.1:$(PORT)/v1/orders \\"
	@echo "    -H 'Authorization: Bearer demo-storefront-fi-key' \\"
	@echo "    -H 'Content-Type: application/json' -H 'Idempotency-Key: demo-SHOP-1001' \\"
	@echo "    --data @config/sample-order.json"
	@echo
	@echo "  Orders advance by themselves every 60 s ([sandbox] autopilot_s), each step a webhook"
	@echo "  back here: Logitrail orders end shipped, Logentic and Flexport orders end delivered."
	@echo "  The tenant's events: curl -sS http://127.0.0.1:$(PORT)/v1/events \\"
	@echo "    -H 'Authorization: Bearer demo-storefront-fi-key'"
	@echo "  What the demo subscriber received: curl -sS http://127.0.0.1:$(PORT)/_sandbox/receiver/demo"
	@echo
	@echo "  A Canadian order goes to Logentic:"
	@echo "  curl -sS -X POST http://127.0.0.1:$(PORT)/v1/orders \\"
	@echo "    -H 'Authorization: Bearer demo-storefront-fi-key' \\"
	@echo "    -H 'Content-Type: application/json' -H 'Idempotency-Key: demo-SHOP-2001' \\"
	@echo "    --data @config/sample-order-ca.json"
	@echo
	@echo "  Anything else goes to Flexport; a B2B order becomes a Flexport outbound:"
	@echo "  curl -sS -X POST http://127.0.0.1:$(PORT)/v1/orders \\"
	@echo "    -H 'Authorization: Bearer demo-storefront-fi-key' \\"
	@echo "    -H 'Content-Type: application/json' -H 'Idempotency-Key: demo-PO-3001' \\"
	@echo "    --data @config/sample-order-b2b.json"
	@echo
	@echo "  Change, cancel, ship by hand, return, take a provider down: README, \"The demo, step by step\"."
	@echo
	@echo "  Operator console: http://127.0.0.1:$(PORT)/console (operator key: demo-operator-key)"
	@echo
	@$(DEMO_ENV) $(BIN)/gateway serve --config $(CONFIG) --port $(PORT)

# The provider simulators alone (no gateway) with the demo credentials, for testing a client
# of your own against them; WEBHOOKS_TO=http://127.0.0.1:8080 sends their webhooks to a gateway.
sandbox: $(VENV)/.installed
	@$(DEMO_ENV) $(BIN)/gateway sandbox --config $(CONFIG) --port $(SANDBOX_PORT) \
		$(if $(WEBHOOKS_TO),--webhooks-to $(WEBHOOKS_TO))

# pytest exits 5 when it collected nothing: that is a failure here, never a pass.
test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "make test: no tests were collected" >&2; fi; exit $$status

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check gateway tests bench
	$(BIN)/ruff format --check gateway tests bench
	$(BIN)/mypy --strict gateway
	$(BIN)/lint-imports

$(VENV)/.installed-bench: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	@touch $@ $(VENV)/.installed-dev $(VENV)/.installed

# Gateway vs. direct provider calls in one run; BENCH_ARGS="--profile" adds a cProfile.
bench: $(VENV)/.installed-bench
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
