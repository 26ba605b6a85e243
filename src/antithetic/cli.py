"""The ``antithetic`` command: ``antithetic estimate`` estimates ``E[S(x)]`` of a diffusion model with a CI.

Examples::

    antithetic estimate --model google/ddpm-cifar10-32 --statistic brightness --design antithetic \\
        --half-width 0.5 --baseline mc --output brightness.json
    antithetic estimate --model ./my-sd-folder --prompt "a photo of a cat" --design k_antithetic --k 4 \\
        --num-samples 64 --steps 30
    antithetic estimate --model mypackage.models:build --model-option std=0.3 --statistic mypackage.stats:ink \\
        --design rqmc --m 3 --num-samples 128

The model is a hub id or a local ``save_pretrained`` folder of an unconditional UNet pipeline (DDPM, DDIM),
Stable Diffusion or DiT, or ``package.module:factory`` returning an :class:`antithetic.models.DiffusionModel`
(docs/own-model.md). The library's samplers draw every noise from the design, so the pairing is exact for
DDIM and DDPM alike. ``--half-width`` runs Stein's two-stage procedure (:func:`antithetic.sequential_estimate`);
``--num-samples`` a fixed-size run (:func:`antithetic.estimate`). ``--baseline mc`` also samples as many iid
samples from disjoint noise and reports the efficiency against them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["BASELINE_OFFSET", "main"]

#: the iid baseline of ``--baseline mc`` uses noise indices from here on: disjoint from the design's samples
BASELINE_OFFSET = 2**40
BUILTIN_STATISTICS = ("brightness", "contrast", "mean_image")
DESIGNS = ("antithetic", "k_antithetic", "rqmc", "iid")
SAMPLERS = ("ddim", "ddpm")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="antithetic", description="Antithetic noise for diffusion models.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    est = commands.add_parser(
        "estimate", help="estimate E[S(x)] with a confidence interval",
        description="Sample a diffusion model under a noise design and estimate the mean of a statistic with a CI.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    est.add_argument("--model", required=True,
                     help="hub id, local save_pretrained folder (UNet, Stable Diffusion, DiT), or package.module:factory")
    est.add_argument("--model-option", action="append", default=[], metavar="KEY=VALUE",
                     help="keyword argument of a package.module:factory model (VALUE parsed as JSON when it can be)")
    est.add_argument("--prompt", action="append", default=None, help="prompt of a Stable Diffusion model (repeatable)")
    est.add_argument("--negative-prompt", default="", help="negative prompt of a Stable Diffusion model")
    est.add_argument("--guidance-scale", type=float, default=None, help="classifier-free guidance scale (Stable Diffusion, DiT, class-conditional UNet)")
    est.add_argument("--class-label", type=int, action="append", default=None, help="class label of a DiT or class-conditional UNet model (repeatable)")
    est.add_argument("--sampler", choices=SAMPLERS, default="ddim", help="the library's sampler (both pair exactly)")
    est.add_argument("--steps", type=int, default=50, help="sampling steps")
    est.add_argument("--eta", type=float, default=0.0, help="DDIM eta (> 0 injects noise, negated in the twin)")
    est.add_argument("--statistic", default="brightness",
                     help=f"built-in ({', '.join(BUILTIN_STATISTICS)}) or package.module:function of images (N, C, H, W) in [-1, 1]")
    est.add_argument("--design", choices=DESIGNS, default="antithetic", help="noise design")
    est.add_argument("--k", type=int, default=4, help="members per group of --design k_antithetic")
    est.add_argument("--m", type=int, default=None, help="2^m points per replicate of --design rqmc (required there)")
    est.add_argument("--high-dim", choices=("error", "sobol_prefix", "padded"), default="error",
                     help="--design rqmc on noise of more than 21,201 coordinates")
    size = est.add_mutually_exclusive_group(required=True)
    size.add_argument("--half-width", type=float, help="requested CI half-width (Stein's two-stage procedure)")
    size.add_argument("--num-samples", type=int, help="fixed number of samples (a multiple of the group size)")
    est.add_argument("--n0", type=int, default=20, help="pilot groups of --half-width")
    est.add_argument("--max-samples", type=int, default=None, help="budget of samples of --half-width")
    est.add_argument("--level", type=float, default=0.95, help="confidence level")
    est.add_argument("--seed", type=int, default=0, help="base seed of the noise design")
    est.add_argument("--baseline", choices=("mc",), default=None,
                     help="also sample as many iid samples (disjoint noise) and report the efficiency against them")
    est.add_argument("--batch-size", type=int, default=64, help="samples per forward pass (changes no number)")
    est.add_argument("--device", default="auto", help="auto (a GPU when one is visible), cpu, cuda or mps; pick a GPU with CUDA_VISIBLE_DEVICES")
    est.add_argument("--output", type=Path, default=None, help="write the result and its provenance as JSON here")
    est.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def _option_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _model_options(parser: argparse.ArgumentParser, items: list[str]) -> dict[str, Any]:
    options = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            parser.error(f"--model-option {item!r}: give it as KEY=VALUE, e.g. --model-option std=0.3")
        options[key] = _option_value(value)
    return options


def _is_factory(source: str) -> bool:
    return ":" in source and not Path(source).expanduser().exists() and "/" not in source.split(":", 1)[0]


def _pipeline_class(source: str) -> tuple[str, dict[str, Any]]:
    """The pipeline class and components named by a folder's (or hub id's) ``model_index.json``."""
    path = Path(source).expanduser()
    if path.is_dir():
        index = path / "model_index.json"
        if not index.is_file():
            raise ValueError(f"--model {source!r} is a folder without model_index.json; give a save_pretrained pipeline folder")
        config = json.loads(index.read_text())
    else:
        from diffusers import DiffusionPipeline

        config = DiffusionPipeline.load_config(source)
    return str(config.get("_class_name", "")), config


def _unet_config(source: str) -> dict[str, Any]:
    """The ``unet/config.json`` of a pipeline folder or hub id (``{}`` where it has none)."""
    path = Path(source).expanduser() / "unet" / "config.json"
    if path.is_file():
        return json.loads(path.read_text())
    if Path(source).expanduser().is_dir():
        return {}
    from diffusers import UNet2DModel

    return dict(UNet2DModel.load_config(source, subfolder="unet"))


def load_model(args: argparse.Namespace, parser: argparse.ArgumentParser):
    """The model named by ``--model``, as an :class:`antithetic.models.DiffusionModel`."""
    from .models.errors import ModelNotAvailableError

    source = args.model
    name = Path(source).name or source
    if _is_factory(source):
        from .models.python import load_python_model

        try:
            return load_python_model(source.split(":")[-1], {"factory": source, "options": _model_options(parser, args.model_option)})
        except ValueError as err:
            parser.error(f"--model {source!r}: {err}")
    if args.model_option:
        parser.error("--model-option applies to a package.module:factory model only")
    try:
        cls, config = _pipeline_class(source)
    except ValueError as err:
        parser.error(str(err))
    except OSError as err:
        raise ModelNotAvailableError(f"--model {source!r} cannot be loaded: {str(err).splitlines()[0]}; check the hub id "
                                     "or download it to a local folder") from err
    guidance = {} if args.guidance_scale is None else {"guidance_scale": args.guidance_scale}
    if "text_encoder" in config and "unet" in config:
        from .models.latent import load_stable_diffusion

        if not args.prompt:
            parser.error(f"--model {source!r} is a {cls}: give at least one --prompt")
        return load_stable_diffusion(source, name=name, prompts=args.prompt, negative_prompt=args.negative_prompt, **guidance)
    if "transformer" in config and cls.startswith("DiT"):
        from .models.latent import load_dit

        labels = {} if args.class_label is None else {"class_labels": args.class_label}
        return load_dit(source, name=name, **labels, **guidance)
    if "unet" in config and "text_encoder" not in config:
        from .models.pretrained import load_conditional_unet_model, load_unet_model

        if _unet_config(source).get("num_class_embeds") is not None:  # class-conditional: guided, like DiT
            labels = {} if args.class_label is None else {"class_labels": args.class_label}
            return load_conditional_unet_model(source, name=name, **labels, **guidance)
        return load_unet_model(source, name=name)
    parser.error(f"--model {source!r} is a {cls or 'pipeline'}, which this command does not sample; supported: unconditional or class-conditional "
                 "UNet pipelines (DDPM/DDIM), Stable Diffusion, DiT, or a package.module:factory model. For other "
                 "pipelines that take latents=, use antithetic.antithetic_latents from Python (docs/library.md)")


def _statistic(parser: argparse.ArgumentParser, text: str):
    from . import image_statistics

    if text in BUILTIN_STATISTICS:
        return getattr(image_statistics, text)
    if ":" not in text and "." not in text:
        parser.error(f"--statistic {text!r} is not a built-in ({', '.join(BUILTIN_STATISTICS)}); give one, or a "
                     "package.module:function")
    try:
        return image_statistics.load_statistic(text)
    except ValueError as err:
        parser.error(f"--statistic {text!r}: {err}")


def _design(parser: argparse.ArgumentParser, args: argparse.Namespace):
    from .noise import make_design

    params: dict[str, Any] = {}
    if args.design == "k_antithetic":
        if args.k < 2:
            parser.error(f"--k {args.k}: K-antithetic groups need --k 2 or more")
        params["k"] = args.k
    if args.design == "rqmc":
        if args.m is None:
            parser.error("--design rqmc needs --m (2^m points per replicate), e.g. --m 3")
        params.update(m=args.m, high_dim=args.high_dim)
    try:
        return make_design(args.design, seed=args.seed, **params)
    except ValueError as err:
        parser.error(f"--design {args.design}: {err}")


def _check_sizes(parser: argparse.ArgumentParser, args: argparse.Namespace, group: int) -> None:
    if args.seed < 0:
        parser.error(f"--seed {args.seed}: give a non-negative seed")
    if not 0 < args.level < 1:
        parser.error(f"--level {args.level}: give a level in (0, 1), e.g. 0.95")
    if args.steps < 1:
        parser.error(f"--steps {args.steps}: give at least 1 step")
    if args.batch_size < 1:
        parser.error(f"--batch-size {args.batch_size}: give at least 1")
    if args.num_samples is not None and (args.num_samples < 2 * group or args.num_samples % group):
        parser.error(f"--num-samples {args.num_samples}: --design {args.design} groups samples by {group}; give a multiple of "
                     f"{group} of at least {2 * group} (a CI needs 2 groups), e.g. --num-samples {max(2, -(-args.num_samples // group)) * group}")
    if args.half_width is not None:
        if not args.half_width > 0:
            parser.error(f"--half-width {args.half_width}: give a positive half-width")
        if args.n0 < 2:
            parser.error(f"--n0 {args.n0}: the pilot needs at least 2 groups")
        if args.max_samples is not None and args.max_samples < args.n0 * group:
            parser.error(f"--max-samples {args.max_samples} is smaller than the pilot (--n0 {args.n0} groups of {group} = "
                         f"{args.n0 * group} samples); raise --max-samples or lower --n0")
    elif args.max_samples is not None:
        parser.error("--max-samples applies to --half-width only")


def estimate_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> dict[str, Any]:
    """Run ``antithetic estimate``; returns the JSON document it prints and writes."""
    import numpy as np
    from tqdm.auto import tqdm

    from .artifacts import environment_info, write_json
    from .device import resolve_device
    from .estimation import estimate
    from .generate import generate
    from .image_statistics import evaluate_statistic
    from .noise import IIDNoise
    from .sequential import sequential_estimate

    design = _design(parser, args)
    _check_sizes(parser, args, design.group_size)
    statistic = _statistic(parser, args.statistic)
    try:
        device = resolve_device(args.device)
    except (RuntimeError, ValueError) as err:
        parser.error(f"--device {args.device}: {err}")
    model = load_model(args, parser).to(device)
    options: dict[str, Any] = {"num_steps": args.steps}
    if args.sampler == "ddim":
        options["eta"] = args.eta
    bar = tqdm(total=args.num_samples, unit="sample", desc=f"{model.name} {args.sampler} {design.name}",
               disable=args.no_progress, file=sys.stderr)

    def values_of(noise, start: int, count: int) -> np.ndarray:
        samples = generate(model, design=noise, num_samples=count, start=start, sampler=args.sampler, sampler_options=options,
                           batch_size=args.batch_size, progress=False)
        bar.update(count)
        return evaluate_statistic(statistic, samples.samples, name=args.statistic)

    drawn: list[np.ndarray] = []  # the sequential run's values, pilot then continuation
    if args.half_width is not None:
        def sample_fn(start: int, count: int) -> np.ndarray:
            bar.total = start + count
            bar.refresh()
            drawn.append(values_of(design, start, count))
            return drawn[-1]

        try:
            result = sequential_estimate(sample_fn, design, half_width=args.half_width, n0=args.n0, level=args.level,
                                         max_samples=args.max_samples)
        except ValueError as err:
            if "scalar statistic" in str(err):
                parser.error(f"--statistic {args.statistic} returns an array per sample; --half-width needs a scalar "
                             "statistic (or use --num-samples)")
            raise
        values_n = result.num_samples
    else:
        values = values_of(design, 0, args.num_samples)
        result = estimate(values, design, level=args.level)
        values_n = args.num_samples
    baseline = None
    if args.baseline == "mc":
        bar.total = (bar.total or 0) + values_n
        bar.refresh()
        base_values = values_of(IIDNoise(seed=args.seed, offset=BASELINE_OFFSET), 0, values_n)
        if args.half_width is not None:
            result.final = estimate(np.concatenate(drawn), design, level=args.level, baseline=base_values)
        else:
            result = estimate(values, design, level=args.level, baseline=base_values)
        from .estimators import mc_estimate

        mc = mc_estimate(base_values, level=args.level)
        baseline = {"method": "mc", "num_samples": values_n, "estimate": mc.estimate, "ci_low": mc.ci_low,
                    "ci_high": mc.ci_high, "std_error": mc.std_error, "offset": BASELINE_OFFSET}
    bar.close()
    document = {
        "result": result.to_dict(),
        "baseline": baseline,
        "provenance": {
            "command": ["antithetic", *sys.argv[1:]] if sys.argv and Path(sys.argv[0]).name == "antithetic" else None,
            "arguments": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "model": {"name": model.name, **{k: v for k, v in model.info.items() if isinstance(v, (str, int, float, bool, type(None)))}},
            "sampler": {"kind": args.sampler, **options},
            "design": design.describe(),
            "statistic": args.statistic,
            "device": str(device),
            "environment": environment_info(),
        },
    }
    print(result)
    if baseline is not None:
        print(f"baseline mc ({values_n} iid samples): {baseline['estimate']:.6g}  [{baseline['ci_low']:.6g}, "
              f"{baseline['ci_high']:.6g}]")
        final = result if args.half_width is None else result.final
        print(f"efficiency vs the mc baseline: {final.efficiency:.3g} [{final.efficiency_low:.3g}, {final.efficiency_high:.3g}]")
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        write_json(args.output, document)
        print(f"wrote {args.output}")
    return document


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``antithetic`` console script."""
    parser = _parser()
    args = parser.parse_args(argv)
    from .models.errors import ModelNotAvailableError

    try:
        if args.command == "estimate":
            estimate_command(args, parser)
    except ModelNotAvailableError as err:
        print(f"antithetic estimate: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
