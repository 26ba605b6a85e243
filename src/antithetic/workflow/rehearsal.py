"""Rehearsal of the paper-scale run on the CPU: the paper's DAG end to end on random-weight stand-ins.

``config/paper.yaml`` needs nine hub checkpoints, a GPU and user-provided CelebA-HQ images. The
rehearsal runs the same DAG offline in a directory of its own (``results/rehearsal`` by default), so
that every rule, every table and every figure of the paper config is exercised before GPU time is
spent:

1. :func:`build_standins` saves one stand-in per checkpoint: the same diffusers pipeline, network and
   scheduler classes, the same sample (or latent) size and channel counts, the scheduler settings the
   published checkpoint has, tiny widths and random weights (:mod:`antithetic.models.tiny`);
2. :func:`overlay` copies the paper config with only ``pretrained`` pointed at the stand-ins and the
   counts and steps shrunk (:data:`SHRINK`); :func:`overlay_differences` lists anything else that
   differs (a test keeps it empty);
3. :func:`prepare` adds what the paper run takes from the user: Table 3's image folder (random smooth
   256x256 images) and, under a ``TORCH_HOME`` of the rehearsal's own, a **random-weight** AlexNet file
   where LPIPS looks for the ImageNet one. Real runs never see it: their torch hub cache is the user's;
4. :func:`run` calls Snakemake with ``--directory`` and ``--configfile`` (the default run's ``results/``
   is never touched).

The numbers it produces mean nothing (random networks); the ledger's verdicts are those of noise images.

    python -m antithetic.workflow.rehearsal [--dir results/rehearsal] [--cores 2] [--build-only]
"""

from __future__ import annotations

import argparse
import copy
import fnmatch
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "ALLOWED",
    "SHRINK",
    "STANDINS",
    "build_standins",
    "overlay",
    "overlay_differences",
    "prepare",
    "run",
]

ROOT = Path(__file__).resolve().parents[3]
PAPER_CONFIG = ROOT / "config" / "paper.yaml"
DEFAULT_DIR = ROOT / "results" / "rehearsal"

# ------------------------------------------------------------------ the stand-ins, keyed by hub id
# Scheduler settings of the published checkpoints:
# - google/ddpm-cifar10-32: DDPM, linear betas 1e-4 .. 0.02 over 1000 steps, variance_type fixed_large
#   (huggingface.co/google/ddpm-cifar10-32, scheduler_config.json); clip_sample as diffusers' DDPMScheduler.
# - google/ddpm-ema-{celebahq,church,bedroom}-256: the same betas, variance_type fixed_small (the
#   DDPMScheduler default these repositories' scheduler configs keep; huggingface.co/google/ddpm-ema-church-256).
# - facebook/DiT-XL-2-256: DDIMScheduler(num_train_timesteps=1000, beta_schedule="linear",
#   prediction_type="epsilon", clip_sample=False); transformer sample_size 256 // 8 = 32, in 4 / out 8
#   channels (learned sigma), patch 2, 1000 classes (diffusers, scripts/convert_dit_to_diffusers.py).
# - stable-diffusion-v1-5/stable-diffusion-v1-5: PNDMScheduler, scaled_linear betas 0.00085 .. 0.012 over
#   1000 steps, set_alpha_to_one false, skip_prk_steps true, steps_offset 1, clip_sample false
#   (scheduler/scheduler_config.json of the SD 1.5 repository); UNet sample_size 64 (4x64x64 latents),
#   VAE factor 8 (512x512 images), CLIP text encoder with 77 positions.
# - openai/diffusers-cd_*: CMStochasticIterativeScheduler(num_train_timesteps=40, sigma_min=0.002,
#   sigma_max=80.0) for the consistency-distilled checkpoints; LSUN 256x256 unconditional, ImageNet 64x64
#   with 1000 class embeddings (diffusers, scripts/convert_consistency_to_diffusers.py).
_DDPM_BETAS = {"num_train_timesteps": 1000, "beta_schedule": "linear", "beta_start": 0.0001, "beta_end": 0.02, "clip_sample": True}
_CD_SCHEDULER = {"num_train_timesteps": 40, "sigma_min": 0.002, "sigma_max": 80.0}


def _widths(size: int) -> tuple[int, ...]:
    """UNet widths: as many levels as the real checkpoints (4 at 32 and 64 pixels, 6 at 256), mid-block at 4-8 pixels."""
    return (4, 4, 4, 4, 8, 8) if size >= 256 else (4, 4, 8, 8)


def _ddpm(size: int, variance_type: str):
    def build(path: Path) -> Path:
        from antithetic.models.tiny import tiny_ddpm_pipeline

        return tiny_ddpm_pipeline(path, sample_size=size, scheduler_config={**_DDPM_BETAS, "variance_type": variance_type},
                                  channels=_widths(size))

    build.describe = f"DDPMPipeline: UNet2DModel 3x{size}x{size}, DDPMScheduler linear 1e-4..0.02, 1000 steps, {variance_type}"
    return build


def _dit(path: Path) -> Path:
    from diffusers import DDIMScheduler

    from antithetic.models.tiny import tiny_dit_pipeline

    scheduler = DDIMScheduler(num_train_timesteps=1000, beta_schedule="linear", prediction_type="epsilon", clip_sample=False)
    return tiny_dit_pipeline(path, latent_size=32, vae_levels=4, num_classes=1000, scheduler=scheduler)


_dit.describe = "DiTPipeline: DiTTransformer2DModel 4x32x32 latents (8 out channels, patch 2, 1000 classes), VAE x8, DDIMScheduler linear, 1000 steps"


def _sd(path: Path) -> Path:
    from diffusers import PNDMScheduler

    from antithetic.models.tiny import tiny_stable_diffusion_pipeline

    scheduler = PNDMScheduler(
        num_train_timesteps=1000, beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
        set_alpha_to_one=False, skip_prk_steps=True, steps_offset=1,
    )
    return tiny_stable_diffusion_pipeline(path, latent_size=64, vae_levels=4, unet_levels=4, max_length=77,
                                          scheduler=scheduler)


_sd.describe = ("StableDiffusionPipeline: UNet2DConditionModel 4x64x64 latents, CLIP text encoder (77 positions), VAE x8 (512x512), "
                "PNDMScheduler scaled_linear 0.00085..0.012, 1000 steps, steps_offset 1")


def _cm(size: int, num_classes: int | None):
    def build(path: Path) -> Path:
        from antithetic.models.tiny import tiny_consistency_pipeline

        return tiny_consistency_pipeline(path, sample_size=size, num_classes=num_classes, scheduler_config=_CD_SCHEDULER,
                                         channels=_widths(size))

    build.describe = (f"ConsistencyModelPipeline: UNet2DModel 3x{size}x{size}"
                      f"{f', {num_classes} classes' if num_classes else ', unconditional'}, CMStochasticIterativeScheduler 40 steps, sigma 0.002..80")
    return build


#: hub id -> builder of its stand-in (``builder(path) -> path``; ``builder.describe`` says what it is)
STANDINS = {
    "google/ddpm-cifar10-32": _ddpm(32, "fixed_large"),
    "google/ddpm-ema-celebahq-256": _ddpm(256, "fixed_small"),
    "google/ddpm-ema-church-256": _ddpm(256, "fixed_small"),
    "google/ddpm-ema-bedroom-256": _ddpm(256, "fixed_small"),
    "facebook/DiT-XL-2-256": _dit,
    "stable-diffusion-v1-5/stable-diffusion-v1-5": _sd,
    "openai/diffusers-cd_cat256_lpips": _cm(256, None),
    "openai/diffusers-cd_bedroom256_lpips": _cm(256, None),
    "openai/diffusers-cd_imagenet64_l2": _cm(64, 1000),
}

# ------------------------------------------------------------------ the overlay
#: dotted config key (``*`` matches one key) -> its rehearsal value: counts and steps only
SHRINK: dict[str, Any] = {
    "samplers.ddim-50.num_steps": 2,
    "samplers.ddpm-1000.num_steps": 3,
    "correlation.pairs": 8,          # 16 samples: two K-AMC groups and two RQMC replicates of 8 (Table 2 reuses them)
    "correlation.grid_pairs": 2,
    "guidance.pairs": 3,             # 3 PN + 3 RR: the centered correlation needs at least 5 pairs in all
    "symmetry.timesteps": [999, 500, 100, 1],
    "symmetry.directions": 2,
    "symmetry.coordinates": 16,
    "symmetry.probe_samples": 4,
    "symmetry.trajectories.pairs": 2,
    "symmetry.fisher.samples": 4,
    "symmetry.fisher.points": 3,
    "symmetry.partial.pairs": 4,
    "uq.methods.*.num_samples": 16,
    "inverse.measurements": 2,
    "inverse.samples": 4,
    "inverse.num_steps": 2,
    "diversity.pairs": 8,
}
#: the keys an overlay may change: :data:`SHRINK`'s and every model's ``pretrained``
ALLOWED = (*SHRINK, "models.*.pretrained")


def _set(config: dict[str, Any], dotted: str, value: Any) -> None:
    """Set every key matching ``dotted`` (``*`` matches any one key); a key that matches nothing is an error."""
    head, _, rest = dotted.partition(".")
    keys = [k for k in config if fnmatch.fnmatchcase(str(k), head)] if "*" in head else [head]
    if not keys or any(k not in config for k in keys):
        raise KeyError(f"the paper config has no key {dotted!r}")
    for key in keys:
        if rest:
            _set(config[key], rest, value)
        else:
            config[key] = copy.deepcopy(value)


def overlay(paper: dict[str, Any], models_dir: Path) -> dict[str, Any]:
    """``paper`` with each model's ``pretrained`` set to its stand-in folder under ``models_dir`` and :data:`SHRINK` applied."""
    config = copy.deepcopy(paper)
    for name, spec in config["models"].items():
        if spec["pretrained"] not in STANDINS:
            raise KeyError(f"models.{name}.pretrained: no stand-in for {spec['pretrained']!r}")
        spec["pretrained"] = str(Path(models_dir).resolve() / name)
    for dotted, value in SHRINK.items():
        _set(config, dotted, value)
    return config


def _leaves(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_leaves(item, f"{prefix}{key}."))
        return out or {prefix[:-1]: {}}
    return {prefix[:-1]: value}


def _allowed(path: str) -> bool:
    return any(path == pattern or fnmatch.fnmatchcase(path, pattern) or path.startswith(pattern + ".") for pattern in ALLOWED)


def overlay_differences(paper: dict[str, Any], rehearsal: dict[str, Any]) -> list[str]:
    """What the overlay changes beyond :data:`ALLOWED`: keys missing or added, values changed (empty if none)."""
    a, b = _leaves(paper), _leaves(rehearsal)
    problems = [f"missing in the overlay: {k}" for k in a if k not in b and not _allowed(k)]
    problems += [f"not in the paper config: {k}" for k in b if k not in a and not _allowed(k)]
    problems += [f"changed: {k}: {a[k]!r} -> {b[k]!r}" for k in a if k in b and a[k] != b[k] and not _allowed(k)]
    return problems


# ------------------------------------------------------------------ building and running
def build_standins(paper: dict[str, Any], models_dir: Path) -> dict[str, str]:
    """Save every model's stand-in under ``models_dir/<name>`` (kept if already there); ``{name: description}``."""
    built = {}
    for name, spec in paper["models"].items():
        builder = STANDINS[spec["pretrained"]]
        target = Path(models_dir) / name
        if not (target / "model_index.json").is_file():
            if target.exists():
                shutil.rmtree(target)
            builder(target)
            (target / "STANDIN.txt").write_text(
                f"Random-weight stand-in for {spec['pretrained']} (rehearsal only; its samples mean nothing).\n{builder.describe}\n"
            )
        built[name] = f"{spec['pretrained']}: {builder.describe}"
    return built


def write_images(folder: Path, count: int, size: int = 256, seed: int = 0) -> None:
    """``count`` smooth random RGB images of ``size`` pixels: Table 3's ground truths in the rehearsal."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        coarse = Image.fromarray(rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8))
        coarse.resize((size, size), Image.Resampling.BICUBIC).save(folder / f"rehearsal_{i:03d}.png")


def write_random_alexnet(torch_home: Path) -> Path:
    """A random-weight AlexNet state dict where torchvision looks for the ImageNet one, under ``torch_home``.

    Rehearsal only: LPIPS on it is a number of no meaning. The file sits under the rehearsal's own
    ``TORCH_HOME`` (set only for the rehearsal's Snakemake), never in the user's torch hub cache.
    """
    import torch
    from torchvision.models import AlexNet_Weights, alexnet

    path = torch_home / "hub" / "checkpoints" / Path(AlexNet_Weights.DEFAULT.url).name
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(0)
        torch.save(alexnet(weights=None).state_dict(), path)
        (path.parent / "RANDOM_WEIGHTS_REHEARSAL_ONLY.txt").write_text(
            f"{path.name} here holds a randomly initialised AlexNet, not the ImageNet weights: it lets the paper-scale "
            "rehearsal compute LPIPS offline. Never use this TORCH_HOME for a real run.\n"
        )
    return path


def prepare(directory: Path, paper_config: Path = PAPER_CONFIG) -> Path:
    """Stand-ins, overlay, image folder, prompts and LPIPS backbone under ``directory``; returns the overlay's path."""
    directory = Path(directory).resolve()
    paper = yaml.safe_load(Path(paper_config).read_text())
    build_standins(paper, directory / "models")
    config = overlay(paper, directory / "models")
    problems = overlay_differences(paper, config)
    if problems:
        raise ValueError("the rehearsal overlay changes more than counts, steps and pretrained paths:\n" + "\n".join(problems))
    path = directory / "rehearsal.yaml"
    path.write_text(
        "# The paper config with random-weight stand-ins and shrunken counts: a rehearsal of its DAG, never a result.\n"
        + yaml.safe_dump(config, sort_keys=False)
    )
    # relative paths of the config resolve against the run directory: the prompt file and the image folder
    for name, spec in config["models"].items():
        if "prompts" in spec:
            shutil.copyfile(ROOT / spec["prompts"], _inside(directory, spec["prompts"]))
    inverse = config.get("inverse") or {}
    if inverse.get("images"):
        write_images(directory / inverse["images"], int(inverse["measurements"]))
    (directory / "config.yaml").write_text("# replaced by rehearsal.yaml (--replace-workflow-config)\nmodels: {}\nsamplers: {}\n")
    write_random_alexnet(directory / "torch")
    return path


def _inside(directory: Path, relative: str) -> Path:
    path = directory / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def snakemake_command(directory: Path, overlay_path: Path, cores: int, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(directory),
        "--configfile", str(overlay_path), "--replace-workflow-config", "--cores", str(cores), *extra,
    ]


def _env(directory: Path) -> dict[str, str]:
    """The rehearsal's environment: offline hub, its own TORCH_HOME (the random AlexNet), this checkout's code first."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TORCH_HOME": str(Path(directory) / "torch")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    return env


def run(directory: Path = DEFAULT_DIR, *, cores: int = 2, extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """Prepare ``directory`` and run the paper DAG there; returns ``{"seconds", "returncode", "command"}``."""
    directory = Path(directory).resolve()
    start = time.perf_counter()
    overlay_path = prepare(directory)
    cmd = snakemake_command(directory, overlay_path, cores, "--rerun-incomplete", "--keep-going", *extra)
    result = subprocess.run(cmd, cwd=ROOT, env=_env(directory))
    record = {"seconds": round(time.perf_counter() - start, 1), "returncode": result.returncode, "command": cmd, "cores": cores}
    (directory / "rehearsal.json").write_text(json.dumps(record, indent=2) + "\n")
    return record


# ------------------------------------------------------------------ what the run produced
def expected_outputs(config: dict[str, Any]) -> list[str]:
    """The tables (.csv, .md, .tex), the ledger and the figures :class:`~antithetic.workflow.plan.Plan` names for ``config``."""
    from . import plan as paths
    from .plan import Plan, fill, ledger, table

    plan = Plan(config)
    names = ["table1", *(Path(csv).stem for csv in plan.stage_tables().values())]
    out = [table(name, suffix) for name in names for suffix in ("csv", "md", "tex")]
    out += [ledger(suffix) for suffix in ("csv", "md", "tex", "json")]
    pairs = int(config["correlation"]["pairs"])
    out += [fill(paths.PAIR_GRID, model=m, sampler=s, pairs=pairs) for m, s in plan.correlation_runs]
    out += [fill(paths.TRAJECTORY_FIGURE, model=m, sampler=s, pairs=plan.trajectory_pairs) for m, s in plan.trajectory_runs]
    out += [fill(paths.SYMMETRY_SLICES_FIGURE, model=m) for m in plan.symmetry_models]
    out += [paths.FISHER_FIGURE] if plan.fisher_models else []
    out += [paths.CI_VS_N] if plan.uq_runs else []
    return [*out, paths.FOREST]


def dag_outputs(directory: Path, overlay_path: Path) -> list[str]:
    """Every table and figure file of the DAG (Snakemake's ``--summary``): paths under ``figures/`` and ``results/tables/``."""
    result = subprocess.run(snakemake_command(directory, overlay_path, 1, "--summary"), cwd=ROOT, env=_env(directory),
                            capture_output=True, text=True, check=True)
    files = [line.split("\t")[0] for line in result.stdout.splitlines()[1:] if line.strip()]
    return sorted(f for f in files if f.startswith(("figures/", "results/tables/")))


def ledger_rows(directory: Path) -> list[dict[str, Any]]:
    """The rows of the rehearsal's claims ledger (``results/claims.json``): id, model, sampler, verdict, ..."""
    return json.loads((Path(directory) / "results" / "claims.json").read_text())["rows"]


def report(directory: Path = DEFAULT_DIR) -> dict[str, Any]:
    """What the rehearsal in ``directory`` produced: expected and DAG outputs (present or missing), ledger verdicts."""
    directory = Path(directory).resolve()
    overlay_path = directory / "rehearsal.yaml"
    config = yaml.safe_load(overlay_path.read_text())
    outputs = sorted(set(expected_outputs(config)) | set(dag_outputs(directory, overlay_path)))
    rows = ledger_rows(directory) if (directory / "results" / "claims.json").is_file() else []
    return {
        "outputs": outputs,
        "missing": [f for f in outputs if not (directory / f).is_file()],
        "ledger": [{k: row.get(k) for k in ("id", "model", "sampler", "verdict")} for row in rows],
    }


def report_markdown(summary: dict[str, Any], record: dict[str, Any] | None = None) -> str:
    lines = ["# Paper-scale rehearsal (random-weight stand-ins: no number here is a result)", ""]
    if record:
        lines += [f"Exit status {record['returncode']} after {record['seconds']} s on {record['cores']} cores.", ""]
    lines += [f"## Tables and figures ({len(summary['outputs'])}, {len(summary['missing'])} missing)", ""]
    lines += [f"- {'MISSING ' if f in summary['missing'] else ''}{f}" for f in summary["outputs"]]
    lines += ["", "## Ledger rows", "", "| id | model | sampler | verdict |", "|---|---|---|---|"]
    lines += [f"| {r['id']} | {r['model'] or ''} | {r['sampler'] or ''} | {r['verdict']} |" for r in summary["ledger"]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="run directory (default: results/rehearsal)")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--build-only", action="store_true", help="stand-ins, overlay and inputs only; no Snakemake")
    parser.add_argument("snakemake_args", nargs="*", help="passed to Snakemake after --")
    args = parser.parse_args(argv)
    if args.build_only:
        print(prepare(args.dir))
        return 0
    record = run(args.dir, cores=args.cores, extra=tuple(args.snakemake_args))
    print(f"rehearsal: exit {record['returncode']} after {record['seconds']} s on {args.cores} cores ({args.dir})")
    if record["returncode"] == 0:
        summary = report(args.dir)
        (Path(args.dir) / "rehearsal.md").write_text(report_markdown(summary, record))
        print(report_markdown(summary, record))
        return 1 if summary["missing"] else 0
    return record["returncode"]


if __name__ == "__main__":
    raise SystemExit(main())
