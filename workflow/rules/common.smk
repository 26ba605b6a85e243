# Shared helpers: config cross-references, the plan (runs and output paths: antithetic.workflow.plan), resolved
# specs, code digests and the registry of final targets.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from antithetic.kinds import MODEL_KINDS, is_hub_id, model_kind
from antithetic.workflow import plan as paths
from antithetic.workflow.code import code_digest
from antithetic.workflow.config import ConfigError, check_references
from antithetic.workflow.plan import Plan, fill, ledger, table

try:
    check_references(config)
except ConfigError as err:
    raise WorkflowError(f"Invalid config: {err}")

PLAN = Plan(config)


def script_code(script):
    """Digest of the library code that workflow/scripts/<script> imports (antithetic.workflow.code).

    Each job declares it as the param ``code``: an edit of a module the job imports reruns it (Snakemake's
    params trigger), an edit of any other module does not.
    """
    base = Path(workflow.basedir)
    return code_digest(base / "workflow" / "scripts" / script, src=base / "src", cache=CODE_DIGESTS)


# each script's digest with the stamps of its files: a no-op rerun parses no source (antithetic.workflow.code)
CODE_DIGESTS = Path(".snakemake") / "antithetic-code-digests.json"

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


# ------------------------------------------------------------------ resources
# Host memory (mem_mb) and runtime (minutes) of the jobs that can need more than the profile's default:
# antithetic.workflow.resources, a model fitted to `make bench-memory`'s measurements (memory) and a
# projection from the network evaluations (runtime), from each job's model, image size and sample count.
# A cluster job (SLURM) runs its network on a GPU; a local one where the profile's `device` says, `auto`
# counting as the CPU unless nvidia-smi is on the PATH. A retried job (--retries) asks for `attempt` times the memory.
from antithetic.workflow import resources as job_resources


def _default_resource(name, fallback):
    try:
        value = workflow.resource_settings.default_resources.get(name).raw
    except Exception:
        return fallback
    return value if isinstance(value, (int, str)) and value not in ("", None) else fallback


def _resource_device():
    device = str(_default_resource("device", "auto")).strip("'\"")
    if device.startswith("cuda"):
        return "cuda"
    if device == "cpu":
        return "cpu"
    import shutil

    return "cuda" if not workflow.local_exec or shutil.which("nvidia-smi") else "cpu"


RESOURCE_DEVICE = _resource_device()
RESOURCE_BATCH = int(_default_resource("batch_size", 500)) if str(_default_resource("batch_size", 500)).isdigit() else 500


def rule_mem_mb(rule):
    """A rule's `mem_mb`: antithetic.workflow.resources.job_mem_mb of its job, times the attempt."""
    return lambda wildcards, attempt: attempt * job_resources.job_mem_mb(config, rule, wildcards, batch_size=RESOURCE_BATCH, device=RESOURCE_DEVICE)


def rule_runtime(rule):
    """A rule's `runtime` in minutes: antithetic.workflow.resources.job_runtime of its job (a projection), times the attempt."""
    return lambda wildcards, attempt: attempt * job_resources.job_runtime(config, rule, wildcards, device=RESOURCE_DEVICE)


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
    inputs = {"weights": fill(paths.MODEL, model=wildcards.model)} if "train" in spec or wildcards.model in FETCHED_MODELS else {}
    if "prompts" in spec:  # a changed prompt file re-runs the sampling
        inputs["prompts"] = spec["prompts"]
    return inputs


samples_path = PLAN.samples


wildcard_constraints:
    model="[A-Za-z0-9][A-Za-z0-9_.-]*",
    sampler="[A-Za-z0-9][A-Za-z0-9_.-]*",
    design="[A-Za-z0-9][A-Za-z0-9_.-]*",
    n="[0-9]+",
    seed="[0-9]+",


# ------------------------------------------------------------------ correlation (Table 1) and eta sweep
CORRELATION = config["correlation"]
CORRELATION_RUNS = PLAN.correlation_runs
PN_DESIGN, RR_DESIGN = PLAN.pn_design, PLAN.rr_design
ETA_SWEEP_RUNS = PLAN.eta_sweep_runs


def table1_summaries():
    """Every Table 1 row's summary (PLAN.table1_runs)."""
    return [PLAN.correlation_summary(m, s) for m, s, _ in PLAN.table1_runs]


def correlation_inputs(wildcards):
    n = 2 * int(wildcards.pairs)
    return {
        "pn": samples_path(wildcards.model, wildcards.sampler, PN_DESIGN, n),
        "rr": samples_path(wildcards.model, wildcards.sampler, RR_DESIGN, n),
    }


# ------------------------------------------------------------------ guidance sweep
GUIDANCE = config.get("guidance") or {}
GUIDANCE_RUNS = PLAN.guidance_runs


def scale_label(scale):
    return f"{float(scale):g}"


def guided_samples_inputs(wildcards):
    """The PN and RR samples of every scale (at the model's own scale possibly a Table 1 row's: PLAN.guided_samples)."""
    return {
        f"{kind}_{scale_label(w)}": PLAN.guided_samples(wildcards.model, wildcards.sampler, w, design, int(wildcards.pairs))
        for w in GUIDANCE["scales"]
        for kind, design in (("pn", PN_DESIGN), ("rr", RR_DESIGN))
    }


def guidance_sweep_inputs(wildcards):
    """The samples, and the classifier's scores of them for a model of the digit classes (PLAN.guidance_classified)."""
    inputs = guided_samples_inputs(wildcards)
    if PLAN.guidance_classified(wildcards.model):
        inputs["accuracy"] = PLAN.guidance_accuracy(wildcards.model, wildcards.sampler, int(wildcards.pairs))
    return inputs


def guidance_accuracy_inputs(wildcards):
    return {**guided_samples_inputs(wildcards), "classifier": CLASSIFIER}


def guidance_labels(wildcards):
    """The model's class settings that fix the class each sample asks for (antithetic.models.conditional.ClassLabels)."""
    spec = config["models"][wildcards.model]
    labels = {key: spec[key] for key in ("class_labels", "label_seed") if key in spec}
    if "num_classes" in (spec.get("train") or {}):
        labels["num_classes"] = spec["train"]["num_classes"]
    return labels


# ------------------------------------------------------------------ claims ledger
from antithetic.workflow.claims import claim_targets, input_files, resolve_claim


def load_claims():
    """The claims file (config key `claims`, default the workflow's config/claims.yaml), validated, its
    ${name} placeholders filled from the config (antithetic.workflow.captions.claim_context)."""
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
    return [resolve_claim(c, PLAN) for c in claims["claims"]], path


CLAIMS, CLAIMS_FILE = load_claims()


def readme_tables(wildcards):
    """The generated tables of the README's results block: the ledger, Table 1 and the stage tables this config writes."""
    tables = {"claims": ledger("json"), "table1": table("table1", "md")}
    for name, csv in PLAN.stage_tables().items():
        if name != "coverage":
            tables[name] = csv if name in ("table2", "symmetry") else csv.removesuffix(".csv") + ".md"
    for model, sampler in PLAN.guidance_runs:
        tables[f"guidance-{model}"] = fill(paths.GUIDANCE_SWEEP, model=model, sampler=sampler, pairs=config["guidance"]["pairs"])
    return tables


CLAIM_TARGETS = {c["id"]: claim_targets(c, PLAN) for c in CLAIMS}


# ------------------------------------------------------------------ score symmetry
SYMMETRY = config["symmetry"]
SYMMETRY_MODELS = PLAN.symmetry_models
TRAJECTORY = SYMMETRY["trajectories"]
TRAJECTORY_RUNS = PLAN.trajectory_runs
FISHER = SYMMETRY["fisher"]
FISHER_MODELS = PLAN.fisher_models
PARTIAL = SYMMETRY["partial"]
PARTIAL_RUNS = PLAN.partial_runs
PROBE_KEYS = ("timesteps", "directions", "coordinates", "grid_points", "slice_examples", "probe_samples", "bootstrap", "ci_level")


def symmetry_data_sampler(models):
    """The sampler that draws x_0 for models without data (not analytic, not trained here), else None."""
    spec = lambda m: config["models"][m]
    own = [m for m in models if not model_kind(spec(m)["kind"]).analytic and "train" not in spec(m)]
    return config["samplers"][SYMMETRY["data_sampler"]] if own else None


def fisher_weights(wildcards):
    return {
        f"weights_{m}": fill(paths.MODEL, model=m)
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
UQ_RUNS = PLAN.uq_runs
UQ_COVERAGE_RUNS = PLAN.uq_coverage_runs
#: the uq keys every estimate job reads (params: an edit of one reruns exactly the jobs that read it)
UQ_ESTIMATE_KEYS = ("level", "quantile", "statistics", "control_variates")


def uq_params(*extra):
    return {key: UQ[key] for key in (*UQ_ESTIMATE_KEYS, *extra) if key in UQ}


def uq_coverage_section():
    return {k: v for k, v in (UQ.get("coverage") or {}).items() if k != "runs"}


def uq_inputs(wildcards):
    inputs = {
        method: samples_path(wildcards.model, wildcards.sampler, spec["design"], spec["num_samples"])
        for method, spec in UQ["methods"].items()
    }
    if uq_semantic(wildcards)["statistics"]:
        inputs["classifier"] = paths.CLASSIFIER
    return inputs


def uq_semantic(wildcards):
    """The classifier's statistics of this model's Table-2 run (uq.semantic), and its requested classes if it is
    class-conditional (models.<model>.class_labels, label_seed)."""
    semantic = UQ.get("semantic") or {}
    if wildcards.model not in (semantic.get("models") or []):
        return {"statistics": [], "class_labels": None}
    spec = config["models"][wildcards.model]
    guided = MODEL_KINDS[spec["kind"]].guided
    labels = {"class_labels": spec.get("class_labels", "random"), "label_seed": spec.get("label_seed", 0),
              "num_classes": (spec.get("train") or {}).get("num_classes")} if guided else None
    return {"statistics": list(semantic.get("statistics") or []), "class_labels": labels}


# ------------------------------------------------------------------ quality
QUALITY = config["quality"]
QUALITY_RUNS = PLAN.quality_runs


def quality_inputs(wildcards):
    n = 2 * int(wildcards.pairs)
    return {
        "pn": samples_path(wildcards.model, wildcards.sampler, PN_DESIGN, n),
        "iid": samples_path(wildcards.model, wildcards.sampler, RR_DESIGN, n),
        "classifier": CLASSIFIER,
    }


# ------------------------------------------------------------------ diversity
DIVERSITY = config["diversity"]
DIVERSITY_RUNS = PLAN.diversity_runs


def diversity_inputs(wildcards):
    n = 2 * int(wildcards.pairs)
    inputs = {
        "pn": samples_path(wildcards.model, wildcards.sampler, PN_DESIGN, n),
        "rr": samples_path(wildcards.model, wildcards.sampler, RR_DESIGN, n),
    }
    if "classifier" in DIVERSITY["perceptual"]:  # the digits classifier's features; LPIPS needs no workflow model
        inputs["classifier"] = CLASSIFIER
    return inputs


# ------------------------------------------------------------------ captions
# Wording of the table captions and of the report captions, from the config (antithetic.workflow.captions);
# a table rule passes its stage's as the param `labels`.
from antithetic.workflow.captions import stage_labels

STAGE_LABELS = stage_labels(config)


# ------------------------------------------------------------------ inverse
INVERSE = config["inverse"]
INVERSE_TASKS = PLAN.inverse_tasks


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


# ------------------------------------------------------------------ FlowEdit
FLOWEDIT = config["flowedit"]
FLOWEDIT_SETTINGS = ("sources", "num_steps", "n_max", "n_avg", "source_guidance_scale", "target_guidance_scale", "seed", "level")


def flowedit_inputs(wildcards):
    return {**weights_input(wildcards), "classifier": CLASSIFIER}


# ------------------------------------------------------------------ classifier
CLASSIFIER = paths.CLASSIFIER
