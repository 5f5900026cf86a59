# Two commands do all the set-up on a fresh clone: `make run` and `make test`.
# Each (re)creates .venv when it is missing or older than what it installs:
# requirements.txt (the pipeline, the notebooks, the service) for run, serve, lab, bench
# and sample; requirements-dev.txt (test and lint tools) on top for test, lint and format.
# PREFECT=1 (e.g. `make test PREFECT=1`, as CI does) also installs requirements-prefect.txt:
# the optional Prefect flow and its tests; `make run` never needs it.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PREFECT ?=
RUNTIME := requirements.txt $(if $(PREFECT),requirements-prefect.txt)
DEV := $(RUNTIME) requirements-dev.txt
STAMP := $(VENV)/.installed$(if $(PREFECT),-prefect)
DEV_STAMP := $(VENV)/.installed-dev$(if $(PREFECT),-prefect)
ARGS ?=
# pytest-xdist workers of `make test` (0: one process); each takes whole test files.
PYTEST_WORKERS ?= 2
# The served HTTP surface (README); the same flags in compose.yaml and the Dockerfile.
SERVE_FLAGS := --http httptools --timeout-keep-alive 5 --limit-concurrency 200 --ws none \
	--no-access-log
# `make serve PORT=8080` (or `PORT=8080 make serve`): the API's port on 127.0.0.1.
PORT ?= 8000
# `make lab`: JupyterLab on LAB_PORT (exactly: busy is an error), no browser opened; it
# prints the URL to open (its token: JUPYTER_TOKEN, else a new one). As root (a container,
# a CI machine) it adds --allow-root. LAB_IP=0.0.0.0 to reach it from outside a container.
LAB_PORT ?= 8888
LAB_IP ?= 127.0.0.1

.PHONY: venv run test lint format serve lab bench sample clean-notebooks help

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

# $(call install,FILES): the virtualenv (made when missing) with the requirements FILES.
define install
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(addprefix -r ,$(1))
endef

$(STAMP): $(RUNTIME) pyproject.toml
	$(call install,$(RUNTIME))
	@touch $@

$(DEV_STAMP): $(DEV) pyproject.toml
	$(call install,$(DEV))
	@touch $@ $(STAMP)

venv: $(STAMP)  ## create or refresh .venv from requirements.txt (PREFECT=1: with Prefect)

run: $(STAMP)  ## run the pipeline once on the default data (ARGS="--data-dir ../shared/data")
	$(PY) run_pipeline.py $(ARGS)

test: $(DEV_STAMP)  ## lint, then the whole test suite
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile $(ARGS)

lint: $(DEV_STAMP)  ## ruff lint and format check
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(DEV_STAMP)  ## apply ruff's formatting and safe fixes
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

serve: $(STAMP)  ## the API on http://127.0.0.1:8000/dashboard (PORT=8080: another port)
	$(VENV)/bin/uvicorn app:app --host 127.0.0.1 --port $(PORT) $(SERVE_FLAGS)

lab: $(STAMP)  ## JupyterLab at notebooks/ (runs/ too) on port 8888 (LAB_PORT=...); prints the URL
	@token=$${JUPYTER_TOKEN:-$$($(PY) -c 'import secrets; print(secrets.token_hex(24))')}; \
	echo "JupyterLab: open http://$(if $(filter 0.0.0.0,$(LAB_IP)),127.0.0.1,$(LAB_IP)):$(LAB_PORT)/lab/tree/notebooks?token=$$token"; \
	JUPYTER_TOKEN=$$token PYTHONPATH=$(CURDIR) exec $(VENV)/bin/jupyter lab \
		--notebook-dir=$(CURDIR) --no-browser --ip=$(LAB_IP) --port=$(LAB_PORT) --port-retries=0 \
		$(if $(filter 0,$(shell id -u)),--allow-root)

bench: $(STAMP)  ## pipeline and API benchmarks (real data from ../shared/data)
	$(PY) benchmarks/pipeline.py
	$(PY) benchmarks/api.py

sample: $(STAMP)  ## regenerate the synthetic sample in data/sample
	$(PY) -m milk_forecast.data.sample --out data/sample

clean-notebooks: $(STAMP)  ## strip outputs from notebooks/ before committing
	$(VENV)/bin/jupyter nbconvert --clear-output --inplace notebooks/*.ipynb
