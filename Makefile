# PcapTotal — one-machine setup, run, tests and benchmarks. Debian 12 + Python 3.11, as root.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
export PCAPTOTAL_DATA_DIR ?= ./data
export PCAPTOTAL_HTTP_PORT ?= 8080

.PHONY: help deps system-deps venv tools run up down test test-unit test-integration lint fmt bench bench-deps clean constraints

help:
	@echo "make run    - install what is missing and serve PcapTotal on 127.0.0.1:$(PCAPTOTAL_HTTP_PORT)"
	@echo "make up     - the distributed stack (RabbitMQ, SeaweedFS, osmem, every service; PARSERS=N ENRICHERS=M) on 127.0.0.1:$(PCAPTOTAL_HTTP_PORT)"
	@echo "make down   - stop what make up started (RUN_DIR, default ./run)"
	@echo "make test   - install what is missing and run every test tier"
	@echo "make lint   - ruff + mypy + import contracts"
	@echo "make bench  - benchmarks under bench/"

# tshark (+ mergecap/editcap from wireshark-common) parses; libmagic names carved files' types.
system-deps:
	@command -v tshark >/dev/null && command -v mergecap >/dev/null \
		&& ldconfig -p | grep -q 'libmagic\.so\.1' || { \
		echo ">> installing tshark and libmagic"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			tshark libmagic1 >/dev/null; }

$(VENV)/.installed: pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

# checkov (the manifest tests run it) pins dependencies the project's venv cannot share: its
# own venv, pinned by deploy/checkov-constraints.txt.
CHECKOV_VENV ?= .venv-checkov
$(CHECKOV_VENV)/.installed: deploy/checkov-constraints.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install -q -c deploy/checkov-constraints.txt checkov
	touch $@

tools: $(CHECKOV_VENV)/.installed

deps: system-deps venv

run: deps
	$(PY) -m pcaptotal_runner

# The services as separate processes, one API origin (scripts/stack.py says what and how).
up: deps
	@command -v rabbitmq-server >/dev/null || [ -n "$$PCAPTOTAL_BUS_URL" ] || { \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			rabbitmq-server >/dev/null; }
	$(PY) scripts/stack.py up

down:
	$(PY) scripts/stack.py down

test: deps tools
	bash scripts/ensure-rabbitmq.sh
	$(PY) -m pytest tests -q --durations=25  # the slowest, to keep the tier under ~25 minutes

# No server, no tshark: unit tests and the in-memory/file/tantivy contract cases only
# (PCAPTOTAL_TEST_TIER=unit makes any attempt to start one fail; see tests/conftest.py).
test-unit: venv
	PCAPTOTAL_TEST_TIER=unit $(PY) -m pytest tests/unit tests/contract -q -m "not integration and not e2e"

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy shared services tests bench
	$(VENV)/bin/lint-imports  # services -> shared only, services independent (pyproject.toml)

fmt: venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# tcprewrite (Debian tcpreplay) builds the flow-heavy bench capture (bench/flowheavy.py);
# nfstream is the peer figure bench/e2e.py prints beside ours (n/a when it cannot install).
bench-deps: deps
	@command -v tcprewrite >/dev/null || { \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			tcpreplay >/dev/null; }
	@$(PY) -c 'import nfstream' 2>/dev/null || $(PY) -m pip install -q nfstream \
		|| echo ">> nfstream did not install: bench/e2e.py prints n/a for it"

bench: bench-deps
	$(PY) bench/parser.py
	$(PY) bench/e2e.py
	$(PY) bench/intel.py

# Re-pin after changing dependencies in pyproject.toml.
constraints: venv
	$(PY) -m pip freeze --exclude-editable | grep -v '^-e' > constraints.txt

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
