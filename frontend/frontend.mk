# The JupyterLab extension (frontend/): included by the root Makefile (`-include frontend/frontend.mk`),
# which defines ROOT, VENV, CACHE, the Jupyter state variables and the `venv`, `build`, `build-release`
# targets used here.
#
#   make frontend-build   npm ci, tsc + jupyter-builder, pip install the package into the venv
#   make frontend-test    prettier, jest, and pytest for the server extension (real nbgate binary)
#   make frontend-e2e     a real JupyterLab in Debian's Chromium (playwright-core): the extension, and
#                         Lab's own kernels on `nbgate serve` (10 of 10 runs); screenshots in
#                         frontend/ui-tests/screenshots/ (git-ignored)
# Both run in `make test`.
#   make lab              JupyterLab on examples/ with the extension and a managed gateway
#   make openapi          src/generated/openapi.json from the server's DTOs (the `openapi` example of
#                         nbgate-api), then src/generated/api.ts from it (openapi-typescript); tests
#                         fail when either is stale (api/tests/openapi_generated.rs, generated.spec.ts)

FRONTEND      := $(ROOT)/frontend
NPM           ?= npm
CHROMIUM      ?= /usr/bin/chromium
LAB_PORT      ?= 8888
FRONTEND_PATH := $(VENV)/bin:$(PATH)

# Nothing here can hang a run: each step has a deadline in seconds. `timeout` signals the whole process
# group (Lab, nbgate and Chromium started by the e2e runner with it), and kills it 30 s later.
DEADLINE         := timeout --kill-after=30
NPM_CI_TIMEOUT   ?= 900
APT_TIMEOUT      ?= 900
UNIT_TIMEOUT     ?= 600
E2E_TIMEOUT      ?= 1500

# npm keeps its cache in the project, installs exactly package-lock.json and asks nothing.
export npm_config_cache           := $(CACHE)/npm
export npm_config_update_notifier := false
export npm_config_fund            := false
export npm_config_audit           := false

# One token per make invocation (`:=`: a recursive variable would draw a new one at each use).
ifndef LAB_TOKEN
LAB_TOKEN := $(shell $(PYTHON) -c 'import secrets; print(secrets.token_hex(16))')
endif

.PHONY: frontend-build frontend-test frontend-e2e lab openapi

# @jupyter/builder needs node ^20.19 or >=22.12: say so up front rather than fail in the middle of the build.
NODE_VERSION_OK := const [a, b] = process.versions.node.split(".").map(Number); process.exit((a === 20 && b >= 19) || (a === 22 && b >= 12) || a > 22 ? 0 : 1)

# node_modules is reinstalled only when the lock file changes.
$(FRONTEND)/node_modules/.installed: $(FRONTEND)/package-lock.json
	@command -v node >/dev/null && command -v $(NPM) >/dev/null \
	    || { echo "frontend: node (20.19+ or 22.12+) and npm are needed: apt-get install nodejs npm"; exit 1; }
	@node -e '$(NODE_VERSION_OK)' \
	    || { echo "frontend: node 20.19+ or 22.12+ is needed, found $$(node --version)"; exit 1; }
	cd $(FRONTEND) && $(DEADLINE) $(NPM_CI_TIMEOUT) $(NPM) ci --loglevel=error
	@touch $@

GENERATED := $(FRONTEND)/src/generated

openapi: $(FRONTEND)/node_modules/.installed
	$(CARGO) run --quiet -p nbgate-api --example openapi > $(GENERATED)/openapi.json.tmp \
	    || { rm -f $(GENERATED)/openapi.json.tmp; exit 1; }
	mv $(GENERATED)/openapi.json.tmp $(GENERATED)/openapi.json
	cd $(FRONTEND) && $(NPM) run --silent openapi

frontend-build: venv $(FRONTEND)/node_modules/.installed
	cd $(FRONTEND) && PATH=$(FRONTEND_PATH) $(NPM) run --silent build
	@test -f $(FRONTEND)/nbgate_jupyter/labextension/package.json \
	    || { echo "frontend: the labextension was not built"; exit 1; }
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation \
	    --force-reinstall $(FRONTEND)

frontend-test: frontend-build build
	@mkdir -p $(CACHE)/tmp $(JUPYTER_RUNTIME_DIR)
	cd $(FRONTEND) && $(NPM) run --silent lint
	cd $(FRONTEND) && TMPDIR=$(CACHE)/tmp $(DEADLINE) $(UNIT_TIMEOUT) $(NPM) test --silent -- --ci --no-watchman
	cd $(FRONTEND) && TMPDIR=$(CACHE)/tmp NBGATE_TEST_BINARY=$(ROOT)/target/debug/nbgate \
	    $(DEADLINE) $(UNIT_TIMEOUT) $(VENV)/bin/python -m pytest -q -p no:cacheprovider nbgate_jupyter/tests

# Debian's chromium, installed non-interactively when missing and we are root. The runner stops
# everything it started by E2E_DEADLINE (less than E2E_TIMEOUT, which backs it up).
frontend-e2e: frontend-build build
	@test -x $(CHROMIUM) || { \
	    if [ "$$(id -u)" = 0 ]; then \
	        echo "frontend-e2e: installing chromium (apt-get)"; \
	        export DEBIAN_FRONTEND=noninteractive; \
	        $(DEADLINE) $(APT_TIMEOUT) apt-get -qq -o DPkg::Lock::Timeout=300 update \
	        && $(DEADLINE) $(APT_TIMEOUT) apt-get -y -qq -o DPkg::Lock::Timeout=300 \
	            -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
	            install chromium >/dev/null; \
	    fi; \
	    test -x $(CHROMIUM) || { echo "frontend-e2e needs $(CHROMIUM): apt-get install chromium (as root)"; exit 1; }; }
	@mkdir -p $(CACHE)/tmp $(CACHE)/xdg
	cd $(FRONTEND) && PATH=$(FRONTEND_PATH) CHROMIUM=$(CHROMIUM) TMPDIR=$(CACHE)/tmp \
	    XDG_CACHE_HOME=$(CACHE)/xdg/cache XDG_CONFIG_HOME=$(CACHE)/xdg/config \
	    NBGATE_BINARY=$(ROOT)/target/debug/nbgate E2E_DEADLINE=$$(( $(E2E_TIMEOUT) - 60 )) \
	    $(DEADLINE) $(E2E_TIMEOUT) node ui-tests/run.js

# JupyterLab on examples/, the gateway started and stopped by the server extension.
# Lab's first-run question about fetching Jupyter news stays away: this Lab serves one job.
LAB_OVERRIDES := $(VENV)/share/jupyter/lab/settings/overrides.json

lab: frontend-build build-release
	@mkdir -p $(JUPYTER_RUNTIME_DIR) $(dir $(LAB_OVERRIDES))
	@echo '{"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": false}}' \
	    > $(LAB_OVERRIDES)
	@echo
	@echo "JupyterLab with nbgate: http://127.0.0.1:$(LAB_PORT)/lab/tree/loyal_customer.ipynb?token=$(LAB_TOKEN)"
	@echo "(open loyal_customer.ipynb, press Execute; Ctrl-C stops Lab and the gateway)"
	@echo
	cd $(ROOT)/examples && PATH=$(FRONTEND_PATH) NBGATE_BINARY=$(ROOT)/target/release/nbgate \
	    NBGATE_MACHINE_TYPES=$(ROOT)/examples/machine-types.toml \
	    JUPYTER_TOKEN=$(LAB_TOKEN) \
	    $(VENV)/bin/jupyter lab --no-browser --ip=127.0.0.1 --port=$(LAB_PORT) \
	    $$([ "$$(id -u)" = 0 ] && echo --allow-root) \
	    --LabApp.news_url=None \
	    --LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate \
	    --LabApp.extension_manager=readonly
