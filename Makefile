# Two commands on a fresh clone: `make demo` (install, simulate, build, train, serve) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
WORKSPACE ?= .
PORT ?= 3000
CUSTOMERS ?= 10000

.PHONY: install demo pipeline serve test test-unit lint docs clean

$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# the CPU build of torch first, so nothing pulls the CUDA build
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -c requirements.lock -e ".[dev]"
	touch $@

install: $(VENV)/.installed

pipeline: install
	$(BIN)/retail data simulate --workspace $(WORKSPACE) --customers $(CUSTOMERS)
	$(BIN)/retail features build --workspace $(WORKSPACE)
	# the order API's database: customers, priced products, stores and stock from the raw tables
	$(BIN)/retail db init --workspace $(WORKSPACE)
	for model in $$($(BIN)/python -c "from training.families import names; print(*names())"); do \
	  $(BIN)/retail train $$model --workspace $(WORKSPACE) && \
	  $(BIN)/retail models promote $$model --workspace $(WORKSPACE) || exit 1; \
	done
	# again, now that a sentiment champion exists: each review's score rolled up per customer and product
	$(BIN)/retail features build --workspace $(WORKSPACE)
	$(BIN)/retail models list --workspace $(WORKSPACE)

demo: pipeline
	@echo ""
	@echo "Starting the service on http://127.0.0.1:$(PORT) (Ctrl-C stops it). Try, from another shell (after the KEY=... line below):"
	@echo "  curl -s http://127.0.0.1:$(PORT)/readyz"
	@echo "  curl -s http://127.0.0.1:$(PORT)/models -H \"Authorization: Bearer \$$KEY\""
	@echo "  curl -s -X POST http://127.0.0.1:$(PORT)/churn -H \"Authorization: Bearer \$$KEY\" -H 'Content-Type: application/json' -d '{\"customer_ids\": [\"C00001\", \"C00002\"]}'"
	@echo "  curl -s -X POST http://127.0.0.1:$(PORT)/recommend -H \"Authorization: Bearer \$$KEY\" -H 'Content-Type: application/json' -d '{\"customer_id\": \"C00001\", \"cart\": [\"P0001\"], \"store_id\": \"S01\", \"mode\": \"cross_sell\", \"k\": 5}'"
	@echo "  curl -s -X POST http://127.0.0.1:$(PORT)/recommend -H \"Authorization: Bearer \$$KEY\" -H 'Content-Type: application/json' -d '{\"cart\": [\"P0001\"], \"mode\": \"up_sell\"}'"
	@echo "  curl -s 'http://127.0.0.1:$(PORT)/forecast?product_id=P0001&horizon=7' -H \"Authorization: Bearer \$$KEY\""
	@echo "  curl -s -X POST http://127.0.0.1:$(PORT)/sentiment -H \"Authorization: Bearer \$$KEY\" -H 'Content-Type: application/json' -d '{\"texts\": [\"Love this dress!\", \"Broke after a week.\"]}'"
	@echo "  curl -s -X POST http://127.0.0.1:$(PORT)/forecast/overrides -H \"Authorization: Bearer \$$KEY\" -H 'Content-Type: application/json' -d '{\"product_id\": \"P0001\", \"start\": \"2026-07-01\", \"end\": \"2026-07-07\", \"factor\": 1.2, \"reason\": \"flyer\", \"author\": \"me\"}'"
	@echo "  curl -s 'http://127.0.0.1:$(PORT)/v1/products/P0001/availability' -H \"Authorization: Bearer \$$KEY\""
	@echo "  curl -s -X POST http://127.0.0.1:$(PORT)/v1/orders -H \"Authorization: Bearer \$$KEY\" -H 'Idempotency-Key: demo-1' -H 'Content-Type: application/json' -d '{\"customer_id\": \"C00001\", \"channel\": \"web\", \"fulfilment\": \"ship\", \"store_id\": \"S00\", \"lines\": [{\"product_id\": \"P0001\", \"quantity\": 1}]}'"
	@echo "  curl -s -X POST http://127.0.0.1:$(PORT)/v1/orders/ORDER_ID/status -H \"Authorization: Bearer \$$KEY\" -H 'Content-Type: application/json' -d '{\"status\": \"paid\"}'"
	@echo "  curl -s http://127.0.0.1:$(PORT)/v1/customers/C00001/orders -H \"Authorization: Bearer \$$KEY\""
	@echo "  $(BIN)/retail predict churn --workspace $(WORKSPACE) --out churn_scores.csv"
	@echo "  $(BIN)/retail predict recommender --workspace $(WORKSPACE) --mode cross_sell --k 10 --out offers.csv"
	@echo "  $(BIN)/retail predict demand --workspace $(WORKSPACE) --out forecast.csv"
	@echo "  API docs: http://127.0.0.1:$(PORT)/docs (Authorize: paste the key)"
	@set -o pipefail; KEY=$$($(BIN)/retail keys create --role admin --name demo --workspace $(WORKSPACE) | tail -n 1) && \
	  echo "" && \
	  echo "An admin API key (shown once; \`$(BIN)/retail keys list|revoke\` manage keys):" && \
	  echo "  KEY=$$KEY" && \
	  echo "Staff pages: http://127.0.0.1:$(PORT)/ui/login (sign in with that key)" && \
	  echo ""
	$(BIN)/retail serve --workspace $(WORKSPACE) --port $(PORT)

serve: install
	$(BIN)/retail serve --workspace $(WORKSPACE) --port $(PORT)

test: install
	$(BIN)/pytest

# the unit tier alone, in under a minute: no services, every family's contract on a tiny workspace; the pytest
# plugins only the other tiers use (schemathesis, hypothesis, ...) stay unloaded, 2 s of that minute
UNIT_SKIPS := schemathesis hypothesispytest fugue_test fugue_test_fixtures anyio typeguard
test-unit: install
	$(BIN)/pytest tests/unit $(addprefix -p no:,$(UNIT_SKIPS))

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy retail features training serving campaign && $(BIN)/lint-imports && \
	  NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# the documentation site (docs/, mkdocs.yml) into site/; --strict: a broken link or anchor fails it
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

clean:
	rm -rf data feature_repo mlruns/mlflow.db mlruns/artifacts
