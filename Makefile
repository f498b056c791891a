# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# localhost only by default; `make run HOST=0.0.0.0` serves the app to the room (LAN).
HOST   ?= localhost
PORT   ?= 8501
# Served to others, folder/.npz paths typed in the app must lie inside DATA_ROOT
# (default sample_data/; EXPLORER_DATA_ROOT in the environment sets it too).
ifdef EXPLORER_DATA_ROOT
DATA_ROOT ?= $(EXPLORER_DATA_ROOT)
endif
# `make run DEVICES=all`: every training of the app uses every local GPU (MirroredStrategy).
ifdef EXPLORER_DEVICES
DEVICES ?= $(EXPLORER_DEVICES)
endif
DEVICES ?= one
# `make run RAY=local` (a Ray of this machine) or `RAY=host:port` (a cluster's head): trainings run
# on Ray (installs requirements-ray.txt first). Without RAY nothing more is installed.
ifdef EXPLORER_RAY_ADDRESS
RAY ?= $(EXPLORER_RAY_ADDRESS)
endif
ifneq ($(filter localhost 127.0.0.1,$(HOST)),$(HOST))
DATA_ROOT ?= $(CURDIR)/sample_data
endif

.PHONY: run test lint format bench messages clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.run-deps: requirements.txt constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements.txt -c constraints.txt
	touch $@

$(VENV)/.ray-deps: requirements-ray.txt constraints-ray.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements-ray.txt -c constraints.txt -c constraints-ray.txt
	touch $@

$(VENV)/.dev-deps: requirements.txt requirements-dev.txt constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt -c constraints.txt
	touch $@ $(VENV)/.run-deps

run: $(VENV)/.run-deps $(if $(RAY),$(VENV)/.ray-deps)
	EXPLORER_DATA_ROOT="$(DATA_ROOT)" EXPLORER_DEVICES="$(DEVICES)" EXPLORER_RAY_ADDRESS="$(RAY)" $(BIN)/python -m lib.ui.serve --server.address $(HOST) --server.port $(PORT) --server.headless true

test: $(VENV)/.dev-deps $(VENV)/.ray-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# ruff: lint and format check (CI runs it before the tests); `make format` rewrites.
lint: $(VENV)/.dev-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.dev-deps
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(VENV)/.dev-deps $(VENV)/.ray-deps
	$(BIN)/python -m bench

# The Korean (and any other) message catalogue: extract every marked string (_(), N_(), a
# Source title) into lib/locale/messages.pot, merge it into each lib/locale/<lang>/LC_MESSAGES/
# messages.po (new strings arrive untranslated, changed ones fuzzy), then compile to check the
# catalogue and print how much is translated. The app compiles the .po itself when it loads.
LOCALES := lib/locale
messages: $(VENV)/.dev-deps
	$(BIN)/pybabel extract -F $(LOCALES)/babel.cfg -k Source:1 --no-location --sort-output \
		--project keras-explorer -o $(LOCALES)/messages.pot streamlit_app.py lib pages
	$(BIN)/pybabel update -i $(LOCALES)/messages.pot -d $(LOCALES) -D messages --no-wrap
	$(BIN)/pybabel compile -d $(LOCALES) -D messages --statistics

clean:
	rm -rf $(VENV) .pytest_cache
