# The two set-up commands of the README: `make run` and `make test`. Everything else is their parts.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
RASA_VENV := .venv-rasa
BIN := $(VENV)/bin
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# Bytecode caches on, even where the environment switches them off: the tests start the bot's processes
# many times, and every start would compile the whole project again (__pycache__ is in .gitignore).
export PYTHONDONTWRITEBYTECODE :=


.PHONY: help run test test-fast lint model nlu-data nlu-evaluate bench clean chromium browser-tools

help:
	@echo "make run    install everything, train the NLU model if needed, start Rasa and the bot on :8080"
	@echo "make test   install everything and run the whole test suite (SQLite, PostgreSQL, real Rasa)"
	@echo "make test-fast   unit tests only (no PostgreSQL, Rasa, browser or processes), in parallel, under a minute"

$(VENV)/.installed: pyproject.toml requirements/app-constraints.txt
	@py=$$(scripts/find-python.sh 3.11+) && echo "app venv with $$py" && "$$py" -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c requirements/app-constraints.txt -e '.[dev]'
	@touch $@

$(RASA_VENV)/.installed: requirements/rasa.txt requirements/rasa-constraints.txt
	@py=$$(scripts/find-python.sh 3.10) && echo "Rasa venv with $$py (Rasa OSS 3.6 needs Python 3.10)" \
	  && "$$py" -m venv $(RASA_VENV)
	@echo "installing Rasa 3.6.21 and TensorFlow into $(RASA_VENV) (about 3 minutes the first time)"
	$(RASA_VENV)/bin/pip install --quiet --upgrade "pip<24.1" wheel
	$(RASA_VENV)/bin/pip install --quiet -r requirements/rasa.txt -c requirements/rasa-constraints.txt
	@touch $@

venvs: $(VENV)/.installed $(RASA_VENV)/.installed

# The web widget's browser tests drive Debian's chromium (Playwright's own browser download does not work
# here) and inject axe-core from npm (pinned in package-lock.json), never from a CDN.
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	  echo "installing Debian's chromium for the widget's browser tests"; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium; \
	fi

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

browser-tools: chromium node_modules/.installed

model: venvs
	$(BIN)/koblenz-bot nlu train

run: model
	$(BIN)/koblenz-bot serve

test: venvs browser-tools
	$(BIN)/ruff check core catalog nlu bot broadcasts connectors app tests bench
	$(BIN)/lint-imports
	$(BIN)/mypy
	@# the unit tests in parallel (as in test-fast, with every Hypothesis example), then everything that
	@# needs PostgreSQL, Rasa, Chromium or processes one at a time: their timings assume a machine to themselves
	$(BIN)/pytest -q -m "not integration" -n $$(( $$(nproc) * 2 ))
	$(BIN)/pytest -q -m integration --durations=20

# Unit tests only: lint, import contracts and the tests that need no PostgreSQL, Rasa, browser or processes.
test-fast: $(VENV)/.installed
	$(BIN)/ruff check core catalog nlu bot broadcasts connectors app tests bench
	$(BIN)/lint-imports
	KOBLENZ_BOT_FAST_TESTS=1 $(BIN)/pytest -q -m "not integration" -n $$(( $$(nproc) * 2 ))

nlu-data: $(VENV)/.installed
	$(BIN)/koblenz-bot nlu generate

nlu-evaluate: venvs
	$(BIN)/koblenz-bot nlu evaluate --compare-default

bench: venvs
	$(BIN)/python bench/chat_latency.py

clean:
	rm -rf $(VENV) $(RASA_VENV) nlu/models var
