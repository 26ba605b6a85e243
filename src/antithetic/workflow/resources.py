"""Host memory and runtime of each job, for the rules' ``resources:`` (a cluster's ``mem_mb`` and ``runtime``).

Memory is a model fitted to measurements: ``make bench-memory`` (:mod:`antithetic.workflow.bench_memory`)
runs every rule's job in a fresh process at two sample counts and two image sizes and fits::

    peak_mb = base + per_sample_pixel * n * P + per_pixel * P

with ``P`` the numel of one sample (C x H x W) and ``n`` what the job's size counts (samples, pairs,
measurements; :data:`COUNTS`). :data:`FITS` holds those fits. A job's request (:func:`mem_mb`) is::

    mem_mb = SAFETY * (base + weights + per_sample_pixel * n * P_image + activations) rounded up to 250 MB

- ``weights``: the network's weights on the host, float32, while they load (:func:`weights_mb`; the
  parameter counts of the paper's checkpoints, stated in :data:`HUB_MODELS`).
- ``activations``: on the CPU, the measured ``per_pixel`` term of the stand-in UNet (8 and 16 channels,
  batch :data:`BENCH_BATCH`) scaled to the job's batch size and its network's input numel; a network
  job on a GPU keeps its activations on the device and adds :data:`CUDA_HOST_MB` of host memory for the
  CUDA runtime instead (an assumption, not measured here).
- ``SAFETY``: 1.5 over the fit (the stand-ins are narrower networks than the paper's, and allocator
  fragmentation grows with the run).

Runtime is a projection, not a measurement: network evaluations of one sample (:func:`job_size`,
from the rule's config keys) times the seconds one evaluation takes (:func:`seconds_per_eval`, stated
per model kind and device), plus :data:`START_MIN` minutes of start-up, times 2, at least
:data:`MIN_RUNTIME` minutes.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from ..kinds import is_hub_id, model_kind

__all__ = [
    "BENCH_BATCH", "COUNTS", "CUDA_HOST_MB", "FITS", "HUB_MODELS", "NETWORK_RULES", "SAFETY", "image_shapes", "job_mem_mb",
    "job_runtime", "job_size", "MIN_RUNTIME", "START_MIN", "mem_mb", "projected_peak_mb", "runtime", "seconds_per_eval", "weights_mb",
]

#: ``make bench-memory``'s fits (results/bench/memory.json; docs/performance.md): rule -> (base MB, MB per
#: sample pixel, MB per pixel at batch BENCH_BATCH), measured 2026-12-04 on 2 CPU cores (docs/memory.md; a test
#: keeps the two equal). inverse_dps and editing grow with n mostly because their batches fill up (autograd
#: activations of the DPS steps, edits of all noise levels), so their per-sample term overstates a GPU job's host memory.
FITS: dict[str, tuple[float, float, float]] = {
    "sample": (990.9, 1.505e-05, 0.006444),
    "symmetry_probe": (1028.4, 9.128e-05, 0.01805),
    "trajectory_correlations": (1030.3, 3.039e-05, 0.01616),
    "theorem1_fisher": (1026.2, 5.554e-05, 0.01757),
    "uq_estimates": (921.6, 2.36e-05, 0.01318),
    "uq_coverage": (931.2, 0, 0.005183),
    "quality": (985.7, 0.00208, 0),
    "diversity": (1180.4, 1.997e-06, 0.04073),
    "inverse_dps": (1066.8, 0.003392, 0),
    "editing": (1083.6, 0.001402, 0),
    "flowedit": (829.2, 0.001266, 0),
}

#: rules that work a chunk of bounded size at a time -> the image numel at which the benchmark's chunk was full
CHUNK_FULL_NUMEL = {"diversity": 3 * 64 * 64}
#: the stand-in network jobs' batch size in the benchmark
BENCH_BATCH = 64
#: factor over the fitted peak
SAFETY = 1.5
#: host memory of the CUDA runtime and its libraries in a job that runs its network on a GPU (assumed)
CUDA_HOST_MB = 3000
#: what ``n`` counts in each rule (the size the fit scales with)
COUNTS = {
    "sample": "samples", "guided_sample": "samples", "symmetry_probe": "probe samples", "trajectory_correlations": "pairs",
    "theorem1_fisher": "samples", "uq_estimates": "samples per method", "uq_coverage": "reference samples", "quality": "pairs",
    "diversity": "pairs", "inverse_dps": "measurements", "editing": "sources", "flowedit": "sources",
}
#: rules whose job runs a network (their activations follow the batch size and the device)
NETWORK_RULES = ("sample", "guided_sample", "symmetry_probe", "trajectory_correlations", "theorem1_fisher", "uq_coverage", "inverse_dps", "editing",
                 "flowedit")
#: guided_sample is the sample job on a guided model
_FIT_OF = {"guided_sample": "sample"}

#: the paper's checkpoints: hub id -> (image side, parameters in millions, all components of the pipeline)
HUB_MODELS = {
    "google/ddpm-cifar10-32": (32, 36),
    "google/ddpm-ema-celebahq-256": (256, 114),
    "google/ddpm-ema-church-256": (256, 114),
    "google/ddpm-ema-bedroom-256": (256, 114),
    "google/ddpm-ema-cat-256": (256, 114),
    "facebook/DiT-XL-2-256": (256, 759),            # DiT-XL/2 675 M + the VAE 84 M
    "facebook/DiT-XL-2-512": (512, 759),
    "stable-diffusion-v1-5/stable-diffusion-v1-5": (512, 1066),  # UNet 860 M, CLIP text encoder 123 M, VAE 84 M
    "runwayml/stable-diffusion-v1-5": (512, 1066),
    "openai/diffusers-cd_cat256_lpips": (256, 552),
    "openai/diffusers-cd_bedroom256_lpips": (256, 552),
    "openai/diffusers-cd_cat256_l2": (256, 552),
    "openai/diffusers-cd_bedroom256_l2": (256, 552),
    "openai/diffusers-cd_imagenet64_l2": (64, 296),
    "openai/diffusers-cd_imagenet64_lpips": (64, 296),
}
#: parameters (millions) of a model of that kind whose checkpoint is not in HUB_MODELS
_DEFAULT_PARAMS = {"unet": 114, "consistency": 552, "dit": 759, "stable_diffusion": 1066}

#: one network evaluation of one sample, seconds per noise element (projection, not measured here).
#: GPU (one A100, float16): a 256^2 pixel UNet about 100 samples/s (2e7 elements/s), a 256^2 consistency
#: UNet about 50/s, DiT-XL/2 on 4x32x32 latents about 300/s, SD 1.5's UNet on 4x64x64 latents about 100/s.
#: CPU: the digits UNet (32 and 64 channels) measured by ``make bench`` at about 2e-4 s per 8x8 sample on
#: 2 threads (3e5 elements/s); the hub models on a CPU are taken 100 times slower than on the GPU.
_GPU_ELEMENTS_PER_S = {"unet": 2e7, "consistency": 1e7, "dit": 1.2e6, "stable_diffusion": 1.6e6}
_CPU_TRAINED_ELEMENTS_PER_S = 3e5
_ANALYTIC_ELEMENTS_PER_S = 1e8
#: minutes to start a job and load its model; the floor of every request
START_MIN = 5
MIN_RUNTIME = 10


# ------------------------------------------------------------------------------------ model facts
def _hub_side(source: str) -> int | None:
    if source in HUB_MODELS:
        return HUB_MODELS[source][0]
    found = re.findall(r"(?<!\d)(32|64|128|256|512|1024)(?!\d)", source)
    return int(found[-1]) if found else None


def _local_config(source: str, kind: str) -> dict[str, Any] | None:
    """The network's config.json of a local pipeline folder (None where there is none)."""
    folder = Path(source)
    for sub in ("unet", "transformer", "."):
        path = folder / sub / "config.json"
        if path.is_file():
            try:
                return json.loads(path.read_text())
            except (OSError, ValueError):
                return None
    return None


def image_shapes(spec: dict[str, Any]) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """``(network input shape, sample image shape)`` of one sample of the model ``spec`` (a ``models.<name>`` entry),
    without loading it: the noise the network sees (the latent of a latent model) and the image a samples file holds.

    Trained models and ``means: digits`` mixtures: the 8x8 digits. Analytic models: ``channels`` x ``image_size``.
    Hub checkpoints: :data:`HUB_MODELS`, else the size in the id (``...-256``), else 256; a local folder: its
    network's ``sample_size`` and ``in_channels``. Stable Diffusion: ``image_size`` (default 512), latents / 8.
    """
    kind = spec["kind"]
    if "train" in spec:
        return (1, 8, 8), (1, 8, 8)
    if model_kind(kind).analytic:
        c, s = int(spec.get("channels", 1)), int(spec.get("image_size", 8))
        return (c, s, s), (c, s, s)
    if kind == "python":
        shape = tuple(int(v) for v in spec.get("sample_shape", (3, 256, 256)))
        return shape, shape  # type: ignore[return-value]
    source = str(spec.get("pretrained") or "")
    local = None if is_hub_id(source) or not source else _local_config(source, kind)
    if kind in ("stable_diffusion", "dit"):
        side = spec.get("image_size") or (8 * int(local["sample_size"]) if local and "sample_size" in local else None) \
            or _hub_side(source) or (512 if kind == "stable_diffusion" else 256)
        side = int(side)
        return (4, side // 8, side // 8), (3, side, side)
    if local and "sample_size" in local:
        size = local["sample_size"]
        side = int(size[0] if isinstance(size, list) else size)
        c = int(local.get("in_channels", 3))
        return (c, side, side), (c, side, side)
    side = _hub_side(source) or 256
    return (3, side, side), (3, side, side)


def weights_mb(spec: dict[str, Any]) -> float:
    """Host memory (MB) of the model's weights in float32 while they load; 0 for analytic and trained digits models."""
    kind = spec["kind"]
    if "train" in spec or model_kind(kind).analytic or kind == "python":
        return 0.0
    source = str(spec.get("pretrained") or "")
    params = HUB_MODELS[source][1] if source in HUB_MODELS else _DEFAULT_PARAMS.get(kind, 0)
    return 4.0 * params * 1e6 / 2**20


def seconds_per_eval(spec: dict[str, Any], device: str) -> float:
    """Seconds of one network evaluation of one sample (a projection; see the module's docstring)."""
    kind = spec["kind"]
    numel = math.prod(image_shapes(spec)[0])
    if model_kind(kind).analytic:
        return numel / _ANALYTIC_ELEMENTS_PER_S
    if "train" in spec or kind in ("vae", "flow", "python"):
        return numel / _CPU_TRAINED_ELEMENTS_PER_S
    rate = _GPU_ELEMENTS_PER_S.get(kind, 2e7)
    return numel / (rate if device == "cuda" else rate / 100)


# ------------------------------------------------------------------------------------ the model
def _fit(rule: str) -> tuple[float, float, float]:
    return FITS[_FIT_OF.get(rule, rule)]


def projected_peak_mb(rule: str, image_numel: int, n: int, batch_size: int, *, device: str = "cpu", weights: float = 0.0,
                      network_numel: int | None = None) -> float:
    """The fitted peak RSS (MB) of ``rule``'s job, before the safety factor (see the module's docstring)."""
    base, per_sample_pixel, per_pixel = _fit(rule)
    peak = base + weights + per_sample_pixel * n * image_numel
    if rule in NETWORK_RULES:
        guided = 2 if rule == "guided_sample" else 1
        if device == "cuda":
            peak += CUDA_HOST_MB + per_pixel * image_numel  # one image's worth on the host (the outputs, as they arrive)
        else:
            peak += per_pixel * (network_numel or image_numel) * guided * batch_size / BENCH_BATCH
    else:
        # diversity scores a chunk of about 2^22 pair values at a time: its working set stops growing with the
        # image once a chunk is full, as it was at the benchmark's 3x64x64 and 256 pairs
        peak += per_pixel * (min(image_numel, CHUNK_FULL_NUMEL[rule]) if rule in CHUNK_FULL_NUMEL else image_numel)
    return peak


def mem_mb(rule: str, image_numel: int, n: int, batch_size: int, *, device: str = "cpu", weights: float = 0.0,
           network_numel: int | None = None) -> int:
    """``mem_mb`` a job of ``rule`` requests: SAFETY x :func:`projected_peak_mb`, rounded up to 250 MB."""
    peak = projected_peak_mb(rule, image_numel, n, batch_size, device=device, weights=weights, network_numel=network_numel)
    return int(250 * math.ceil(SAFETY * peak / 250))


def runtime(evals: float, seconds_each: float) -> int:
    """``runtime`` (minutes) of a job of ``evals`` network evaluations of one sample, ``seconds_each`` each: a projection."""
    return max(MIN_RUNTIME, int(math.ceil(2 * (START_MIN + evals * seconds_each / 60))))


# ------------------------------------------------------------------------------------ from a config
def _steps(sampler: dict[str, Any]) -> int:
    if sampler.get("kind") == "decode":
        return 1
    if "timesteps" in sampler:
        return len(sampler["timesteps"])
    return int(sampler.get("num_steps", 50))


def job_size(config: dict[str, Any], rule: str, wildcards: Any) -> dict[str, Any]:
    """``model`` (its spec), ``n`` and the network ``evals`` of one job of ``rule``, from the config and its wildcards."""
    def wc(key: str) -> Any:
        return getattr(wildcards, key, None)

    models, samplers, symmetry = config["models"], config.get("samplers", {}), config.get("symmetry", {})
    if rule == "theorem1_fisher":  # one job over all Theorem 1 models: the largest
        names = list((symmetry.get("fisher") or {}).get("models") or [])
        name = max(names, key=lambda m: math.prod(image_shapes(models[m])[1])) if names else None
    elif rule in ("inverse_dps", "editing", "flowedit"):
        name = wc("model") or (config.get({"inverse_dps": "inverse"}.get(rule, rule)) or {}).get("model")
    else:
        name = wc("model")
    spec = models[name] if name else {"kind": "affine_odd"}
    sampler = samplers.get(wc("sampler"), {}) if wc("sampler") else {}
    data_sampler = samplers.get(symmetry.get("data_sampler"), {"kind": "ddim", "num_steps": 50})
    guided = 2 if model_kind(spec["kind"]).guided else 1
    n, evals = 1, 0.0
    if rule in ("sample", "guided_sample"):
        n = int(wc("n"))
        evals = n * _steps(sampler) * guided
    elif rule == "symmetry_probe":
        n = int(symmetry.get("probe_samples", 256))
        t = len(symmetry.get("timesteps", [])) or 18
        evals = t * int(symmetry.get("directions", 12)) * int(symmetry.get("grid_points", 101)) + n * (_steps(data_sampler) + 2 * t)
    elif rule == "trajectory_correlations":
        n = int(wc("pairs"))
        evals = 2 * 2 * 2 * n * _steps(sampler)
    elif rule == "theorem1_fisher":
        fisher = symmetry.get("fisher") or {}
        n = int(fisher.get("samples", 256))
        evals = len(fisher.get("models") or [1]) * n * (_steps(data_sampler) + 2 * int(fisher.get("points", 25)))
    elif rule == "uq_estimates":
        n = max(int(m["num_samples"]) for m in (config.get("uq") or {}).get("methods", {}).values())
    elif rule == "uq_coverage":
        cov = (config.get("uq") or {}).get("coverage") or {}
        n = int(cov.get("reference_samples", 8192))
        evals = (int(cov.get("repetitions", 300)) * int(cov.get("num_samples", 32)) * len(cov.get("methods") or {}) + n) * _steps(sampler)
    elif rule in ("quality", "diversity"):
        n = int(wc("pairs"))
    elif rule == "inverse_dps":
        inverse = config.get("inverse") or {}
        n = int(inverse.get("measurements", 20))
        evals = 2 * n * int(inverse.get("samples", 8)) * int(inverse.get("num_steps", 1000)) * 3  # MC and AMC; forward and backward
    elif rule == "editing":
        editing = config.get("editing") or {}
        n = int(editing.get("sources", 100))
        evals = 4 * n * len(editing.get("t0") or [1]) * int(editing.get("num_steps", 50))
    elif rule == "flowedit":
        flowedit = config.get("flowedit") or {}
        n = int(flowedit.get("sources", 100))
        # two designs, n_avg draws of the source and of the edit at every step of every n_max
        evals = 2 * n * sum(int(m) for m in flowedit.get("n_max") or [40]) * int(flowedit.get("n_avg", 4)) * 2 * guided
    else:
        raise ValueError(f"no resource model for rule {rule!r}")
    return {"model": spec, "n": n, "evals": evals}


def job_mem_mb(config: dict[str, Any], rule: str, wildcards: Any, *, batch_size: int, device: str) -> int:
    """``mem_mb`` of one job of ``rule`` under ``config`` (:func:`mem_mb` of :func:`job_size`)."""
    size = job_size(config, rule, wildcards)
    network, image = image_shapes(size["model"])
    return mem_mb(rule, math.prod(image), size["n"], batch_size, device=device, weights=weights_mb(size["model"]),
                  network_numel=math.prod(network))


def job_runtime(config: dict[str, Any], rule: str, wildcards: Any, *, device: str) -> int:
    """``runtime`` (minutes) of one job of ``rule`` under ``config``: a projection (:func:`runtime`)."""
    size = job_size(config, rule, wildcards)
    return runtime(size["evals"], seconds_per_eval(size["model"], device))
