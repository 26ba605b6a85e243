# Two entry points for a fresh clone (both set up .venv first, offline-capable):
#   make run    default workflow: train the digits DDPM, sample, Table 1 and figures
#   make test   the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test env report clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

env: $(STAMP)

run: $(STAMP)
	$(BIN)/snakemake

report: $(STAMP)
	$(BIN)/snakemake --report results/report.zip

test: $(STAMP)
	$(BIN)/python -m pytest -q

envs/antithetic.yaml: requirements.txt envs/sync.py
	$(PYTHON) envs/sync.py

clean:
	rm -rf results/* figures/* logs .snakemake
