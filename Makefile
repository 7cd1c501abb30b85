# BillPort: `make run` brings up the whole local stack; `make test` runs the whole suite.
PY := .venv/bin/python
STAMP := .venv/.installed
REPLICAS ?=

.PHONY: setup run stop test test-unit test-integration test-faults bench lint clean

$(STAMP): pyproject.toml scripts/bootstrap.sh package-lock.json
	bash scripts/bootstrap.sh

setup: $(STAMP)

run: $(STAMP)
	$(PY) -m devstack run --replicas "$(REPLICAS)"

stop:
	@if [ -x $(PY) ]; then $(PY) -m devstack stop; fi

test: $(STAMP)
	$(PY) -m pytest --durations=25

test-unit: $(STAMP)
	$(PY) -m pytest tests/unit

test-integration: $(STAMP)
	$(PY) -m pytest tests/integration

# Part of `make test` too: faults under load on a stack of its own (several minutes).
test-faults: $(STAMP)
	$(PY) -m pytest tests/faults

bench: $(STAMP)
	$(PY) -m bench

lint: $(STAMP)
	.venv/bin/ruff check .
	.venv/bin/mypy

clean: stop
	rm -rf .local
