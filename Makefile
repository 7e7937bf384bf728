# Two commands do everything on a fresh clone: `make run` and `make test`.
SHELL := /bin/bash
UV ?= $(shell command -v uv 2>/dev/null || echo "$(HOME)/.local/bin/uv")
export UV_PYTHON_DOWNLOADS := never

.PHONY: run test install lint typecheck bench services clean

$(UV):
	python3 -m pip install --quiet --user uv || python3 -m pip install --quiet uv

install: $(UV)
	$(UV) sync --frozen

run: install
	$(UV) run hotline run

services:
	bash scripts/services.sh

test: install services
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run lint-imports
	$(UV) run mypy
	$(UV) run pytest -q -p no:cacheprovider $(PYTEST_ARGS)

lint: install
	$(UV) run ruff check . && $(UV) run ruff format --check .

typecheck: install
	$(UV) run mypy

bench: install services
	$(UV) run python bench/auth.py --requests 3000 --concurrency 16 --rounds 9
	$(UV) run python bench/rush.py --orders 1500 --concurrency 64
	$(UV) run python bench/payments.py
	$(UV) run python bench/fulfillment.py --shipments 200
	$(UV) run python -m bench.ticketing
	$(UV) run python bench/console.py
	$(UV) run python bench/shop.py

clean:
	rm -f hotline.db hotline.db-wal hotline.db-shm
