# Shared helpers: path conventions, resource lookups and the registry of final targets.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from antithetic.config import ConfigError, check_references

try:
    check_references(config)
except ConfigError as err:
    raise WorkflowError(f"Invalid config: {err}")

# Every stage registers its final outputs here; `rule all` requests them all.
TARGETS = {}

# Extra Table 1 rows (paths of correlation summaries) registered by other stages, e.g. the eta sweep.
TABLE1_EXTRA = []


def all_targets():
    return [path for paths in TARGETS.values() for path in paths]


def weights_input(wildcards):
    """The weights folder of a model the workflow trains or fetches itself (else nothing), and its prompt file."""
    spec = config["models"][wildcards.model]
    # trained by the workflow, or fetched from the hub by rule fetch_model (workflow/rules/pretrained.smk)
    inputs = {"weights": f"results/models/{wildcards.model}"} if "train" in spec or wildcards.model in FETCHED_MODELS else {}
    if "prompts" in spec:  # a changed prompt file re-runs the sampling
        inputs["prompts"] = spec["prompts"]
    return inputs


SAMPLES = "results/samples/{model}/{sampler}/{design}_n{n}_seed{seed}"


def samples_path(model, sampler, design, n, seed=None):
    seed = config["seed"] if seed is None else seed
    return SAMPLES.format(model=model, sampler=sampler, design=design, n=n, seed=seed) + ".npz"


wildcard_constraints:
    model="[A-Za-z0-9][A-Za-z0-9_.-]*",
    sampler="[A-Za-z0-9][A-Za-z0-9_.-]*",
    design="[A-Za-z0-9][A-Za-z0-9_.-]*",
    n="[0-9]+",
    seed="[0-9]+",
