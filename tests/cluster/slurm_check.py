"""Helpers of tests/cluster/slurm_check.sh (the SLURM check): its config, its local profile and its assertions.

    python tests/cluster/slurm_check.py config OUT.yaml
    python tests/cluster/slurm_check.py profile OUT_DIR PARTITION MEM_MB CPUS
    python tests/cluster/slurm_check.py jobs SNAKEMAKE_LOG NODE PARTITION
    python tests/cluster/slurm_check.py compare SLURM_RUN_DIR LOCAL_RUN_DIR

Each command exits non-zero with a message naming what is wrong.
"""

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "workflow"))
from test_end_to_end import tiny_config  # noqa: E402

SLURM_PROFILE = ROOT / "profiles" / "slurm" / "config.yaml"
MODELS = ("affine-odd", "digits-gmm")
# the rules that run a network on the device; profiles/slurm must request a GPU for each
NETWORK_RULES = ("sample", "guided_sample", "train_model", "symmetry_probe", "trajectory_correlations", "theorem1_fisher", "uq_coverage",
                 "inverse_dps", "editing", "flowedit", "guidance_accuracy")
# sample provenance (results/samples/**/*.json): keys that record the run, not the result
PROVENANCE_RUN_KEYS = {"created", "seconds", "threads", "batch_size"}


class CheckError(Exception):
    pass


# the claims of the check's ledger: Table 1's (the whole ledger adds some 25 one-second jobs, each an sbatch)
CLAIMS = ("C1", "C2")


def slurm_check_claims():
    """config/claims.yaml cut to :data:`CLAIMS`."""
    claims = yaml.safe_load((ROOT / "config" / "claims.yaml").read_text())["claims"]
    return {"claims": [claim for claim in claims if claim["id"] in CLAIMS]}


def slurm_check_config(claims_file):
    """tests/workflow/test_end_to_end.py's tiny config cut to a cheap subset: analytic models only (no training),
    DDIM with 5 steps, the ledger of ``claims_file``. 16 jobs: 11 on the cluster (4 sampling, 2 correlations,
    2 pair figures, 1 trajectory correlation (a second network rule), its figure and Table 1) and 5 local rules
    (2 claims, the ledger, its forest plot and the README block)."""
    config = tiny_config()
    config["claims"] = str(Path(claims_file).resolve())
    config["models"] = {name: config["models"][name] for name in MODELS}
    config["samplers"] = {"ddim": config["samplers"]["ddim"]}
    # iid and antithetic (the schema's defaults refer to them) and Table 1's PN and RR designs (correlation.designs)
    kept = {"iid", "antithetic", *config["correlation"]["designs"].values()}
    config["designs"] = {name: spec for name, spec in config["designs"].items() if name in kept}
    config["correlation"]["runs"] = {name: ["ddim"] for name in MODELS}
    config["symmetry"] = {"trajectories": {"pairs": 3, "runs": {"affine-odd": ["ddim"]}}}
    for section in ("eta_sweep", "uq", "guidance", "quality", "diversity", "inverse", "editing", "flowedit"):
        config.pop(section, None)
    return config


def local_profile(partition, mem_mb, cpus):
    """profiles/slurm adapted to the local one-node cluster, given after it (`--profile profiles/slurm
    --profile OUT_DIR`; a later profile replaces whole top-level keys, so both resource sections are
    rewritten in full): partition -> the local one, the GPU request of every network rule dropped (the
    node has no GPU; sbatch would reject --gres=gpu:1), mem_mb capped so that CPUs, not memory, bound
    how many jobs share the node, cores capped at the node's CPUs. runtime and everything else stay as
    in profiles/slurm."""
    profile = yaml.safe_load(SLURM_PROFILE.read_text())
    if profile.get("executor") != "slurm":
        raise CheckError(f"{SLURM_PROFILE}: executor is {profile.get('executor')!r}, not 'slurm'")
    set_resources = profile.get("set-resources") or {}
    for rule in NETWORK_RULES:
        gres = (set_resources.get(rule) or {}).get("gres")
        if gres != "'gpu:1'":
            raise CheckError(f"{SLURM_PROFILE}: rule {rule} runs a network but requests gres {gres!r}, not 'gpu:1'")
    default = {**profile["default-resources"], "slurm_partition": partition}
    default["mem_mb"] = min(int(default["mem_mb"]), mem_mb)
    rules = {}
    for rule, resources in set_resources.items():
        resources = {k: v for k, v in resources.items() if k != "gres"}
        if "mem_mb" in resources:
            resources["mem_mb"] = min(int(resources["mem_mb"]), mem_mb)
        rules[rule] = resources
    return {"cores": min(int(profile["cores"]), cpus), "default-resources": default, "set-resources": rules}


def _scontrol_job(slurm_id):
    out = subprocess.run(["scontrol", "-o", "show", "job", slurm_id], capture_output=True, text=True)
    if out.returncode != 0:
        raise CheckError(f"scontrol show job {slurm_id} failed: {out.stderr.strip()}")
    # one line of Key=Value fields; values have no spaces except Command/WorkDir paths (not used here)
    return dict(field.split("=", 1) for field in out.stdout.split() if "=" in field)


def _minutes(limit):
    """SLURM TimeLimit [days-]hh:mm:ss -> minutes."""
    days, _, clock = limit.rpartition("-")
    h, m, s = (int(x) for x in clock.split(":"))
    return int(days or 0) * 1440 + h * 60 + m + s / 60


def check_jobs(log_path, node, partition):
    """Every job of the run but the local rules (`all`, the claims ledger's) was submitted with sbatch, ran on `node` in
    `partition` without a GPU request and completed with exit code 0, with the time limit Snakemake resolved for it
    (a rule's computed runtime, antithetic.workflow.resources, or profiles/slurm's). Returns {rule: count}."""
    text = Path(log_path).read_text()
    rule_of, runtime_of, rule, jobid = {}, {}, None, None
    for line in text.splitlines():
        if m := re.match(r"^(local)?rule (\S+):$", line):
            rule, jobid = (m.group(2), bool(m.group(1))), None
        elif (m := re.match(r"^\s+jobid: (\d+)$", line)) and rule:
            jobid = m.group(1)
            rule_of[jobid] = rule
        elif (m := re.match(r"^\s+resources: .*\bruntime=(\d+)", line)) and jobid:
            runtime_of[jobid] = int(m.group(1))  # what Snakemake resolved: the rule's own (computed) or the profile's
    submitted = dict(re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+)", text))
    cluster_jobs = {jobid for jobid, (_, local) in rule_of.items() if not local}
    if not submitted:
        raise CheckError(f"{log_path}: no 'Job ... has been submitted with SLURM jobid' line: nothing went through sbatch")
    if set(submitted) != cluster_jobs:
        raise CheckError(f"{log_path}: jobs {sorted(cluster_jobs)} should run on the cluster, sbatch got {sorted(submitted)}")
    profile = yaml.safe_load(SLURM_PROFILE.read_text())
    counts = {}
    for jobid, slurm_id in sorted(submitted.items(), key=lambda kv: int(kv[1])):
        name = rule_of[jobid][0]
        job = _scontrol_job(slurm_id)
        where = f"SLURM job {slurm_id} (rule {name})"
        expected = {"JobState": "COMPLETED", "ExitCode": "0:0", "NodeList": node, "Partition": partition}
        for key, value in expected.items():
            if job.get(key) != value:
                raise CheckError(f"{where}: {key}={job.get(key)}, expected {value}")
        if "gpu" in job.get("TresPerNode", "") + job.get("TRES", ""):
            raise CheckError(f"{where} requested a GPU: TresPerNode={job.get('TresPerNode')} TRES={job.get('TRES')}")
        runtime = runtime_of.get(jobid) or (profile.get("set-resources", {}).get(name) or {}).get("runtime") \
            or profile["default-resources"]["runtime"]
        if _minutes(job["TimeLimit"]) != runtime:
            raise CheckError(f"{where}: TimeLimit={job['TimeLimit']}, the job's resolved runtime is {runtime} min")
        counts[name] = counts.get(name, 0) + 1
    return counts


def _sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _npz(path):
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def compare(slurm_dir, local_dir):
    """results/ and figures/ of the two runs hold the same files with the same content. Three kinds of file
    record how a job ran, and differ in exactly that: the sample provenance .json beside each .npz
    (PROVENANCE_RUN_KEYS: time stamp, wall time, threads and batch size of the profile) and the `meta`
    entry inside each sample .npz (its wall time, `seconds`) are compared without those keys, and every
    array of the .npz bit for bit; the rules' `benchmark:` files (results/benchmarks/: wall time and
    memory, nothing else) only for being there. Every other file must have the same sha256."""
    slurm_dir, local_dir = Path(slurm_dir), Path(local_dir)
    files = {}
    for run in (slurm_dir, local_dir):
        files[run] = sorted(p.relative_to(run) for d in ("results", "figures") for p in (run / d).rglob("*") if p.is_file())
    if files[slurm_dir] != files[local_dir]:
        only_slurm = set(files[slurm_dir]) - set(files[local_dir])
        only_local = set(files[local_dir]) - set(files[slurm_dir])
        raise CheckError(f"different output files: only on SLURM {sorted(map(str, only_slurm))}, only local {sorted(map(str, only_local))}")
    if not any(p.suffix == ".npz" for p in files[local_dir]):
        raise CheckError("no sample .npz file to compare")
    tally = {"sha256": 0, "npz arrays": 0, "provenance": 0, "benchmark": 0}
    for rel in files[local_dir]:
        a, b = slurm_dir / rel, local_dir / rel
        if rel.parts[:2] == ("results", "benchmarks"):
            tally["benchmark"] += 1
        elif rel.parts[:2] == ("results", "samples") and rel.suffix == ".npz":
            x, y = _npz(a), _npz(b)
            if sorted(x) != sorted(y):
                raise CheckError(f"{rel}: entries {sorted(x)} vs {sorted(y)}")
            for key in x:
                if key == "meta":
                    mx, my = json.loads(str(x[key])), json.loads(str(y[key]))
                    mx.pop("seconds", None), my.pop("seconds", None)
                    if mx != my:
                        raise CheckError(f"{rel}: meta differs beyond wall time: {mx} vs {my}")
                elif x[key].dtype != y[key].dtype or x[key].shape != y[key].shape or x[key].tobytes() != y[key].tobytes():
                    raise CheckError(f"{rel}: array {key!r} differs between the SLURM and the local run")
            tally["npz arrays"] += 1
        elif rel.parts[:2] == ("results", "samples") and rel.suffix == ".json":
            x, y = json.loads(a.read_text()), json.loads(b.read_text())
            for record in (x, y):
                for key in PROVENANCE_RUN_KEYS:
                    record.pop(key, None)
            if x != y:
                diff = sorted(k for k in set(x) | set(y) if x.get(k) != y.get(k))
                raise CheckError(f"{rel}: provenance differs in {diff}")
            tally["provenance"] += 1
        elif _sha256(a) != _sha256(b):
            raise CheckError(f"{rel}: sha256 differs between the SLURM and the local run")
        else:
            tally["sha256"] += 1
    return tally


def main(argv):
    command, *args = argv
    if command == "config":  # OUT.yaml and, next to it, the claims file it names
        out = Path(args[0])
        claims = out.with_name("claims.yaml")
        claims.write_text(yaml.safe_dump(slurm_check_claims(), sort_keys=False))
        out.write_text(yaml.safe_dump(slurm_check_config(claims), sort_keys=False))
    elif command == "profile":
        out = Path(args[0])
        out.mkdir(parents=True, exist_ok=True)
        header = f"# {local_profile.__doc__.strip()}\n".replace("\n    ", "\n# ")
        (out / "config.yaml").write_text(header + yaml.safe_dump(local_profile(args[1], int(args[2]), int(args[3])), sort_keys=False))
    elif command == "jobs":
        counts = check_jobs(*args)
        print(f"{sum(counts.values())} jobs ran through sbatch on node {args[1]}, all COMPLETED with exit code 0: "
              + ", ".join(f"{rule} x{n}" for rule, n in counts.items()))
    elif command == "compare":
        tally = compare(*args)
        print(f"SLURM and local outputs identical: {tally['sha256']} files by sha256, {tally['npz arrays']} sample .npz array by "
              f"array (their meta differs only in wall time), {tally['provenance']} provenance .json without {sorted(PROVENANCE_RUN_KEYS)}, "
              f"{tally['benchmark']} benchmark files (wall times) present in both")
    else:
        raise SystemExit(f"unknown command {command!r}; see {__file__}")


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except CheckError as err:
        raise SystemExit(f"slurm-check: FAIL: {err}")
