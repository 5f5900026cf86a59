# Two commands do all the set-up on a fresh clone: `make run` and `make test`.
# Both (re)create .venv from requirements.txt when it is missing or older than it.
# PREFECT=1 (e.g. `make test PREFECT=1`, as CI does) also installs requirements-prefect.txt:
# the optional Prefect flow and its tests; `make run` never needs it.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PREFECT ?=
REQUIREMENTS := requirements.txt $(if $(PREFECT),requirements-prefect.txt)
STAMP := $(VENV)/.requirements-installed$(if $(PREFECT),-prefect)
ARGS ?=
# The served HTTP surface (README); the same flags in compose.yaml and the Dockerfile.
SERVE_FLAGS := --http httptools --timeout-keep-alive 5 --limit-concurrency 200 --ws none \
	--no-access-log

.PHONY: venv run test lint format serve lab bench sample clean-notebooks help

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): $(REQUIREMENTS) pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(addprefix -r ,$(REQUIREMENTS))
	@touch $(STAMP)

venv: $(STAMP)  ## create or refresh .venv from requirements.txt (PREFECT=1: with Prefect)

run: $(STAMP)  ## run the pipeline once on the default data (ARGS="--data-dir ../shared/data")
	$(PY) run_pipeline.py $(ARGS)

test: $(STAMP)  ## lint, then the whole test suite
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest $(ARGS)

lint: $(STAMP)  ## ruff lint and format check
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(STAMP)  ## apply ruff's formatting and safe fixes
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

serve: $(STAMP)  ## serve the newest succeeded run on http://127.0.0.1:8000
	$(VENV)/bin/uvicorn app:app --host 127.0.0.1 --port 8000 $(SERVE_FLAGS)

lab: $(STAMP)  ## open the notebooks in JupyterLab (their kernels import this checkout's package)
	PYTHONPATH=$(CURDIR) $(VENV)/bin/jupyter lab --notebook-dir=notebooks

bench: $(STAMP)  ## pipeline and API benchmarks (real data from ../shared/data)
	$(PY) benchmarks/pipeline.py
	$(PY) benchmarks/api.py

sample: $(STAMP)  ## regenerate the synthetic sample in data/sample
	$(PY) -m milk_forecast.data.sample --out data/sample

clean-notebooks: $(STAMP)  ## strip outputs from notebooks/ before committing
	$(VENV)/bin/jupyter nbconvert --clear-output --inplace notebooks/*.ipynb
