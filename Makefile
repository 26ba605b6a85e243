# Entry points for a fresh clone (each sets up .venv first; run and test are offline-capable):
#   make run    default workflow: train the digits DDPM, sample, Table 1 and figures
#   make test   the test suite
#   make lint   ruff and snakemake --lint (both must report nothing)
#   make slurm-check  the workflow on a local one-node SLURM cluster vs locally (root; installs slurm-wlm)
#   make paper-rehearsal  the paper config's whole DAG on the CPU, random-weight stand-ins (results/rehearsal)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint env report check readme expected-verdicts claim bench bench-memory bench-run-cost slurm-check paper-rehearsal clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# antithetic[workflow] without resolving anything online: requirements.txt pins the library's and the
	# workflow extra's packages, then the package itself goes in without dependencies
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

# Static checks (CI fails on any finding): ruff on the Python, Snakemake's linter on the workflow.
lint: $(STAMP)
	$(BIN)/ruff check src tests workflow examples
	$(BIN)/snakemake --lint

envs/antithetic.yaml: requirements.txt envs/sync.py
	$(PYTHON) envs/sync.py

# After `make run`: the verdicts are the committed ones, and the README's ledger, the tables of docs/results.md
# and the key figures in docs/figures/ are this run's (numbers and pixels may differ a little on another CPU).
check: $(STAMP)
	$(BIN)/python -m antithetic.workflow.claims check results/claims.json config/expected_verdicts.csv
	$(BIN)/python -m antithetic.workflow.readme check README.md results/README.results.md results
	$(BIN)/python -m antithetic.workflow.readme check docs/results.md results/README.results.md tables
	$(BIN)/python -m antithetic.workflow.readme figures check README.md results/README.results.md

# After `make run`: the run's ledger into the README, its tables into docs/results.md, its key figures into docs/figures/.
readme: $(STAMP)
	$(BIN)/python -m antithetic.workflow.readme write README.md results/README.results.md results
	$(BIN)/python -m antithetic.workflow.readme write docs/results.md results/README.results.md tables
	$(BIN)/python -m antithetic.workflow.readme figures write README.md results/README.results.md

expected-verdicts: $(STAMP)
	$(BIN)/python -m antithetic.workflow.claims expect results/claims.json config/expected_verdicts.csv

# Speed ratios, job start-up, no-op rerun and per-rule wall times: results/bench/bench.{json,md}, then
# docs/bench.md and the bench block of docs/performance.md (commit both; a test keeps them equal).
# Peak memory of every rule's job at two sample counts and two image sizes, each in a fresh process:
# results/bench/memory.{json,md}, then docs/memory.md and the memory block of docs/performance.md (commit both)
bench-memory: $(STAMP)
	$(BIN)/python -m antithetic.workflow.bench_memory
	mkdir -p docs && cp results/bench/memory.md docs/memory.md
	$(BIN)/python -m antithetic.workflow.readme write docs/performance.md docs/memory.md memory

bench: $(STAMP)
	$(BIN)/python -m antithetic.workflow.bench
	mkdir -p docs && cp results/bench/bench.md docs/bench.md
	$(BIN)/python -m antithetic.workflow.readme write docs/performance.md docs/bench.md bench

# What the class-conditional models' stages cost the default run: the run from clean with and without them, back to
# back in scratch copies (two whole runs, about 20 minutes on 2 cores): results/bench/run_cost.{json,md}, then
# docs/run-cost.md and the run-cost block of docs/performance.md (commit both)
bench-run-cost: $(STAMP)
	$(BIN)/python -m antithetic.workflow.run_cost --without-models digits-cddpm digits-gmm-cond --drop uq.semantic
	mkdir -p docs && cp results/bench/run_cost.md docs/run-cost.md
	$(BIN)/python -m antithetic.workflow.readme write docs/performance.md docs/run-cost.md run-cost

# One claim and only what it needs, e.g. `make claim ID=C13`: reruns what is out of date, then prints the
# claim's rows (value, CI, decision rule, verdict, source file), also when nothing had to be rerun.
claim: $(STAMP)
	@test -n "$(ID)" || { echo "usage: make claim ID=<claim id>, e.g. make claim ID=C13" >&2; exit 2; }
	$(BIN)/python -m antithetic.workflow.claims show --known $(ID)
	$(BIN)/snakemake claim_$(ID)
	@$(BIN)/python -m antithetic.workflow.claims show $(ID)

# The workflow on a local one-node SLURM cluster (installs slurm-wlm, munge and the executor plugin).
slurm-check: $(STAMP)
	VENV=$(abspath $(VENV)) tests/cluster/slurm_check.sh

# config/paper.yaml end to end on the CPU: random-weight stand-ins of its nine checkpoints, counts and steps shrunk,
# in results/rehearsal (its own run directory); lists every table, figure and ledger verdict (docs/paper-scale.md).
paper-rehearsal: $(STAMP)
	$(BIN)/python -m antithetic.workflow.rehearsal --dir results/rehearsal --cores $(or $(CORES),2)
	ANTITHETIC_REHEARSAL_DIR=results/rehearsal $(BIN)/python -m pytest -q -m rehearsal tests/workflow/test_rehearsal.py

# Everything the workflow made; the tracked results/README.md and figures/README.md stay.
clean:
	find results figures -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +
	rm -rf logs .snakemake
