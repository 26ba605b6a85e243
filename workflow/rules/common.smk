# Shared helpers: config cross-references, path conventions, resolved specs and the registry of final targets.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from antithetic.workflow.config import ConfigError, check_references, runs, section
from antithetic.kinds import MODEL_KINDS, is_hub_id, model_kind

try:
    check_references(config)
except ConfigError as err:
    raise WorkflowError(f"Invalid config: {err}")

# ------------------------------------------------------------------ fork servers
# A local run imports the heavy packages once per pool instead of once per job: the `network` server
# imports torch and diffusers, the `table` server pandas, SciPy and matplotlib (antithetic.workflow.forkserver;
# ANTITHETIC_FORKSERVER=0 starts none). Cluster jobs run in their own processes.
FORK_SERVERS = []


def start_fork_servers():
    if workflow.is_main_process and workflow.local_exec:
        from antithetic.workflow.forkserver import start_server

        server = start_server()
        if server is not None:
            FORK_SERVERS.append(server)


def stop_fork_servers():
    while FORK_SERVERS:
        FORK_SERVERS.pop().stop()


# Every stage registers its final outputs here; `rule all` requests them all.
TARGETS = {}


def all_targets():
    return [path for paths in TARGETS.values() for path in paths]


# Threads of a job that runs a network (sampling, probes, DPS, editing). The workflow's jobs are many and
# small (a job without a fork server also starts single-threaded, importing torch and diffusers): one core
# per job keeps every core busy, two side by side sample about as fast as one job on two threads, and the
# thread count changes no sample on the CPU (bitwise equal with 1 and 2 threads: tests/test_samplers.py).
# For a few large jobs: --set-threads sample=8. Training the UNet, one long job that the rest waits for, takes all cores.
NETWORK_THREADS = 1


# Resolved config entries for `params:`. A rule declares every config value it reads as a param, so an
# edited key reruns exactly the jobs that read it (Snakemake's params rerun trigger).
def model_spec(wildcards):
    """The model's entry without its Table 1 label `data` (a relabel must not resample)."""
    return {k: v for k, v in config["models"][wildcards.model].items() if k != "data"}


def model_entry(wildcards):
    """The model's whole resolved entry, its `data` label included (unlike model_spec)."""
    return config["models"][wildcards.model]


def sampler_spec(wildcards):
    return config["samplers"][wildcards.sampler]


def design_spec(wildcards):
    return config["designs"][wildcards.design]


def is_fetched(name):
    """A model whose hub weights the workflow downloads once (rule fetch_model); local folders are used in place."""
    spec = config["models"][name]
    kind = MODEL_KINDS[spec["kind"]]
    return kind.fetchable and "train" not in spec and spec.get("fetch", True) and is_hub_id(spec.get("pretrained"))


FETCHED_MODELS = [name for name in config["models"] if is_fetched(name)]


def weights_input(wildcards):
    """The weights folder of a model the workflow trains or fetches itself (else nothing), and its prompt file."""
    spec = config["models"][wildcards.model]
    inputs = {"weights": f"results/models/{wildcards.model}"} if "train" in spec or wildcards.model in FETCHED_MODELS else {}
    if "prompts" in spec:  # a changed prompt file re-runs the sampling
        inputs["prompts"] = spec["prompts"]
    return inputs


SAMPLES = "results/samples/{model}/{sampler}/{design}_n{n}_seed{seed}"
GUIDED = "results/guidance/{model}/{sampler}/w{scale}/{design}_n{n}_seed{seed}"


def samples_path(model, sampler, design, n, seed=None):
    seed = config["seed"] if seed is None else seed
    return SAMPLES.format(model=model, sampler=sampler, design=design, n=n, seed=seed) + ".npz"


wildcard_constraints:
    model="[A-Za-z0-9][A-Za-z0-9_.-]*",
    sampler="[A-Za-z0-9][A-Za-z0-9_.-]*",
    design="[A-Za-z0-9][A-Za-z0-9_.-]*",
    n="[0-9]+",
    seed="[0-9]+",


# ------------------------------------------------------------------ correlation (Table 1) and eta sweep
CORRELATION = config["correlation"]
CORRELATION_RUNS = runs(config, "correlation.runs")
PN_DESIGN, RR_DESIGN = CORRELATION["designs"]["pn"], CORRELATION["designs"]["rr"]
ETA_SWEEP = config.get("eta_sweep") or {}
ETA_SWEEP_RUNS = [(m, s) for m in ETA_SWEEP.get("models", []) for s in ETA_SWEEP.get("samplers", [])]


def correlation_pairs(model, sampler):
    """Pairs of a (model, sampler) in Table 1: correlation.pairs, or eta_sweep.pairs for a sweep-only row."""
    if (model, sampler) in CORRELATION_RUNS:
        return CORRELATION["pairs"]
    return ETA_SWEEP.get("pairs") or CORRELATION["pairs"]


def summary_path(model, sampler):
    return f"results/correlation/{model}/{sampler}/summary_{correlation_pairs(model, sampler)}.json"


def table1_summaries():
    """Every Table 1 row's summary: correlation.runs, then the eta-sweep rows not among them."""
    rows = CORRELATION_RUNS + [run for run in ETA_SWEEP_RUNS if run not in CORRELATION_RUNS]
    return [summary_path(m, s) for m, s in rows]


def correlation_inputs(wildcards):
    n = 2 * int(wildcards.pairs)
    return {
        "pn": samples_path(wildcards.model, wildcards.sampler, PN_DESIGN, n),
        "rr": samples_path(wildcards.model, wildcards.sampler, RR_DESIGN, n),
    }


# ------------------------------------------------------------------ guidance sweep
GUIDANCE = config.get("guidance") or {}
GUIDANCE_RUNS = runs(config, "guidance.runs")


def scale_label(scale):
    return f"{float(scale):g}"


def guided_path(model, sampler, scale, design, n):
    return GUIDED.format(model=model, sampler=sampler, scale=scale_label(scale), design=design, n=n, seed=config["seed"]) + ".npz"


def guidance_sweep_inputs(wildcards):
    n = 2 * int(wildcards.pairs)
    return {
        f"{kind}_{scale_label(w)}": guided_path(wildcards.model, wildcards.sampler, w, design, n)
        for w in GUIDANCE["scales"]
        for kind, design in (("pn", PN_DESIGN), ("rr", RR_DESIGN))
    }


# ------------------------------------------------------------------ claims ledger
from antithetic.workflow.claims import input_files, plan


def load_claims():
    """The claims file (config key `claims`, default the workflow's config/claims.yaml), validated."""
    import yaml

    path = Path(config.get("claims") or Path(workflow.basedir) / "config" / "claims.yaml")
    if not path.is_file():
        raise WorkflowError(f"Invalid config: 'claims' names {str(path)!r}, which does not exist; fix the path or remove the key")
    # libyaml's parser when PyYAML has it: every snakemake call (a no-op rerun too) parses this file
    claims = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    validate(claims, str(Path(workflow.basedir) / "workflow" / "schemas" / "claims.schema.yaml"))
    ids = [c["id"] for c in claims["claims"]]
    if len(set(ids)) != len(ids):
        raise WorkflowError(f"Invalid claims file {str(path)!r}: duplicate ids {sorted({i for i in ids if ids.count(i) > 1})}")
    return claims["claims"], path


CLAIMS, CLAIMS_FILE = load_claims()


def readme_tables(wildcards):
    """The generated tables of the README's results block: those of the stages this config runs."""
    tables = {"claims": "results/claims.json", "table1": "results/tables/table1.md"}
    if runs(config, "uq.runs"):
        tables["table2"] = "results/tables/table2.csv"
    if (config.get("symmetry") or {}).get("models"):
        tables["symmetry"] = "results/tables/symmetry_as.csv"
    stages = {"table3": "inverse.model", "table4": "diversity.runs", "quality": "quality.runs", "editing": "editing.model"}
    for name, key in stages.items():
        if section(config, key):
            tables[name] = f"results/tables/{name}.md"
    return tables
CLAIM_TARGETS = {c["id"]: plan(c, config) for c in CLAIMS}


# ------------------------------------------------------------------ score symmetry
SYMMETRY = config["symmetry"]
SYMMETRY_MODELS = list(SYMMETRY["models"])
TRAJECTORY = SYMMETRY["trajectories"]
TRAJECTORY_RUNS = [(m, s) for m, samplers in TRAJECTORY["runs"].items() for s in samplers]
FISHER = SYMMETRY["fisher"]
FISHER_MODELS = list(FISHER["models"])
PARTIAL = SYMMETRY["partial"]
PARTIAL_RUNS = [(m, s) for m, samplers in PARTIAL["runs"].items() for s in samplers]
PROBE_KEYS = ("timesteps", "directions", "coordinates", "grid_points", "slice_examples", "probe_samples", "bootstrap", "ci_level")


def symmetry_data_sampler(models):
    """The sampler that draws x_0 for models without data (not analytic, not trained here), else None."""
    spec = lambda m: config["models"][m]
    own = [m for m in models if not model_kind(spec(m)["kind"]).analytic and "train" not in spec(m)]
    return config["samplers"][SYMMETRY["data_sampler"]] if own else None


def fisher_weights(wildcards):
    return {
        f"weights_{m}": f"results/models/{m}"
        for m in FISHER_MODELS
        if "train" in config["models"][m] or m in FETCHED_MODELS
    }


def partial_inputs(wildcards):
    pairs = int(wildcards.pairs)
    full = pairs
    if (wildcards.model, wildcards.sampler) in CORRELATION_RUNS:
        full = int(CORRELATION["pairs"])  # reuse the correlation stage's PN samples
    return {
        "partial": samples_path(wildcards.model, wildcards.sampler, PARTIAL["design"], 2 * pairs),
        "antithetic": samples_path(wildcards.model, wildcards.sampler, "antithetic", 2 * full),
    }


# ------------------------------------------------------------------ uncertainty quantification
UQ = config.get("uq") or {}
UQ_RUNS = [(m, s) for m, samplers in (UQ.get("runs") or {}).items() for s in samplers]
UQ_COVERAGE_RUNS = [(m, s) for m, samplers in ((UQ.get("coverage") or {}).get("runs") or {}).items() for s in samplers]
#: the uq keys every estimate job reads (params: an edit of one reruns exactly the jobs that read it)
UQ_ESTIMATE_KEYS = ("level", "quantile", "statistics", "control_variates")


def uq_params(*extra):
    return {key: UQ[key] for key in (*UQ_ESTIMATE_KEYS, *extra) if key in UQ}


def uq_coverage_section():
    return {k: v for k, v in (UQ.get("coverage") or {}).items() if k != "runs"}


def uq_inputs(wildcards):
    return {
        method: samples_path(wildcards.model, wildcards.sampler, spec["design"], spec["num_samples"])
        for method, spec in UQ["methods"].items()
    }


# ------------------------------------------------------------------ quality
QUALITY = config["quality"]
QUALITY_RUNS = [(m, s) for m, samplers in QUALITY["runs"].items() for s in samplers]


def quality_inputs(wildcards):
    n = 2 * int(wildcards.pairs)
    return {
        "pn": samples_path(wildcards.model, wildcards.sampler, PN_DESIGN, n),
        "iid": samples_path(wildcards.model, wildcards.sampler, RR_DESIGN, n),
        "classifier": CLASSIFIER,
    }


# ------------------------------------------------------------------ diversity
DIVERSITY = config["diversity"]
DIVERSITY_RUNS = [(m, s) for m, samplers in DIVERSITY["runs"].items() for s in samplers]


def diversity_inputs(wildcards):
    n = 2 * int(wildcards.pairs)
    inputs = {
        "pn": samples_path(wildcards.model, wildcards.sampler, PN_DESIGN, n),
        "rr": samples_path(wildcards.model, wildcards.sampler, RR_DESIGN, n),
    }
    if "classifier" in DIVERSITY["perceptual"]:  # the digits classifier's features; LPIPS needs no workflow model
        inputs["classifier"] = CLASSIFIER
    return inputs


# ------------------------------------------------------------------ inverse
INVERSE = config["inverse"]
INVERSE_TASKS = list(INVERSE["tasks"]) if INVERSE.get("model") else []


def inverse_inputs(wildcards):
    """The model's weights and, with inverse.images, the folder of ground-truth images."""
    inputs = weights_input(wildcards)
    if INVERSE.get("images"):
        if not Path(INVERSE["images"]).is_dir():
            raise ValueError(f"config key 'inverse.images': no folder {INVERSE['images']!r}; put the ground-truth "
                             "images there (at least inverse.measurements files) or remove the key to use the held-out digits")
        inputs["images"] = INVERSE["images"]
    return inputs


# ------------------------------------------------------------------ editing
EDITING = config["editing"]


def editing_inputs(wildcards):
    return {**weights_input(wildcards), "classifier": CLASSIFIER}


# ------------------------------------------------------------------ classifier
CLASSIFIER = "results/models/digits-classifier"
