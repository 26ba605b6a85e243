# Entry points for a fresh clone (each sets up .venv first; run and test are offline-capable):
#   make run    default workflow: train the digits DDPM, sample, Table 1 and figures
#   make test   the test suite
#   make slurm-check  the workflow on a local one-node SLURM cluster vs locally (root; installs slurm-wlm)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test env report clean slurm-check

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

slurm-check: $(STAMP)
	VENV=$(abspath $(VENV)) tests/cluster/slurm_check.sh

clean:
	rm -rf results/* figures/* logs .snakemake
