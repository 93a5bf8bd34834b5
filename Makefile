# nbgate: two commands on a fresh machine.
#   make run    build everything, then start the main job
#   make test   build everything, then run every test
# Everything they need (a project-local Python venv with ipykernel and the example's libraries) is
# installed here; nothing is read from or written to the user's home.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

ROOT    := $(abspath .)
VENV    := $(ROOT)/.venv
PYTHON  ?= python3
CACHE   := $(ROOT)/.cache
CARGO   ?= cargo

# Jupyter state stays inside the project: kernelspecs come from the venv.
export JUPYTER_PATH        := $(VENV)/share/jupyter
export JUPYTER_DATA_DIR    := $(CACHE)/jupyter/data
export JUPYTER_CONFIG_DIR  := $(CACHE)/jupyter/config
export JUPYTER_RUNTIME_DIR := $(CACHE)/jupyter/runtime
export IPYTHONDIR          := $(CACHE)/ipython
export MPLCONFIGDIR        := $(CACHE)/matplotlib
export JUPYTER_PLATFORM_DIRS := 1
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.PHONY: help run run-headless test soak venv venv-eg postgres openssh build build-release lint bench clean

help:
	@echo "make run    build everything and start JupyterLab (with the nbgate extension) on examples/"
	@echo "make test   build everything and run all tests"
	@echo "make bench  compare nbgate with papermill and jupyter_client (not a test)"
	@echo "make soak   the reliability suites at full size (~20 min)"

# The venv is rebuilt only when requirements.txt changes.
$(VENV)/.installed: requirements.txt
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --upgrade pip
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

venv: $(VENV)/.installed

# Jupyter Enterprise Gateway for the remote-kernel tests, in a venv of its own (it pins jupyter_client 6
# and jupyter_server 1, which clash with JupyterLab's); rebuilt only when requirements-eg.txt changes.
VENV_EG := $(ROOT)/.venv-eg
$(VENV_EG)/.installed: requirements-eg.txt
	@test -x $(VENV_EG)/bin/python || $(PYTHON) -m venv $(VENV_EG)
	$(VENV_EG)/bin/pip install --quiet --disable-pip-version-check --upgrade pip
	$(VENV_EG)/bin/pip install --quiet --disable-pip-version-check -r requirements-eg.txt
	@touch $@

# EG's source distribution: the SSH-mode tests install its python_distributed kernelspec and launcher
# (not in the wheel) from it at test time (tests/src/ssh_hosts.rs).
$(VENV_EG)/sdist/.downloaded: requirements-eg.txt $(VENV_EG)/.installed
	rm -rf $(VENV_EG)/sdist
	$(VENV_EG)/bin/pip download --quiet --disable-pip-version-check --no-deps --no-binary :all: \
	    -d $(VENV_EG)/sdist "$$(grep -io '^jupyter.enterprise.gateway==[^ ]*' requirements-eg.txt)"
	@touch $@

venv-eg: $(VENV_EG)/.installed $(VENV_EG)/sdist/.downloaded

# `$(APT_INSTALL) PACKAGE…`: apt-get update and install, non-interactive, each step with a deadline,
# existing configuration files kept.
APT_INSTALL = export DEBIAN_FRONTEND=noninteractive; \
    timeout --kill-after=30 900 apt-get -qq -o DPkg::Lock::Timeout=300 update \
    && timeout --kill-after=30 900 apt-get -y -qq -o DPkg::Lock::Timeout=300 \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold install

# Debian's sshd for the Enterprise Gateway SSH-mode tests, which run one per network namespace
# (tests/src/ssh_hosts.rs); installed non-interactively when missing and we are root.
openssh:
	@test -x /usr/sbin/sshd || { \
	    if [ "$$(id -u)" = 0 ]; then \
	        echo "openssh: installing openssh-server (apt-get)"; \
	        $(APT_INSTALL) openssh-server >/dev/null; \
	    fi; \
	    test -x /usr/sbin/sshd || { \
	        echo "the SSH-mode tests need sshd: apt-get install openssh-server (as root)"; exit 1; }; }

# Debian's PostgreSQL server binaries (initdb, pg_ctl) for the store tests, which start their own
# server (tests/src/postgres.rs); installed non-interactively when missing and we are root.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	    if [ "$$(id -u)" = 0 ]; then \
	        echo "postgres: installing postgresql (apt-get)"; \
	        $(APT_INSTALL) postgresql >/dev/null; \
	    fi; \
	    ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	        echo "the store tests need PostgreSQL's server: apt-get install postgresql (as root)"; exit 1; }; }

build-release:
	$(CARGO) build --release -p nbgate

build:
	$(CARGO) build --workspace --bins --examples

# JupyterLab on examples/ with the extension; its server extension runs the gateway (frontend/frontend.mk).
run: lab

# The example notebook run headless with `nbgate run`.
run-headless: venv build-release
	@mkdir -p $(JUPYTER_RUNTIME_DIR)
	$(ROOT)/target/release/nbgate run examples/loyal_customer.ipynb \
	    examples/output/loyal_customer.ipynb --cwd examples
	@echo
	@echo "Executed notebook: $(ROOT)/examples/output/loyal_customer.ipynb"
	@echo "Predictions:       $(ROOT)/examples/output/ (partitioned by generated_sync_date)"

# The Rust workspace, then the JupyterLab extension: jest + pytest, and the browser tests (Chromium).
test: venv venv-eg postgres openssh build
	@mkdir -p $(JUPYTER_RUNTIME_DIR)
	$(CARGO) test --workspace
	$(MAKE) --no-print-directory frontend-test frontend-e2e

# The reliability suites at full size (20 kills of nbgate serve, 10,000 executions, 50 WebSocket clients
# x 1,000 executes, 3 replicas on PostgreSQL with 50 schedules for 60 s and a kill -9 every ~8 s):
# ~22 minutes. `make test` runs them at CI size. NBGATE_SEED=N repeats a kill run.
soak: venv postgres build
	@mkdir -p $(JUPYTER_RUNTIME_DIR)
	NBGATE_SOAK=1 $(CARGO) test -p nbgate-tests --test kill9 --test soak --test replicas -- --nocapture --test-threads=1

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

bench: venv
	bench/run.sh

clean:
	rm -rf $(VENV) $(CACHE) target

-include frontend/frontend.mk
