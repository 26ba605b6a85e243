"""Checks of ``config.yaml`` that a JSON schema cannot express: cross references between sections.

Types, defaults and unknown keys are handled by ``workflow/schemas/config.schema.yaml`` (validated by
the Snakefile with :func:`snakemake.utils.validate`). :func:`check_references` is the one checker of
every name an experiment section uses: each must refer to an entry of ``models``, ``samplers`` or
``designs``, and each (model, sampler) pair must fit according to the kind registry
(:mod:`antithetic.kinds`). Every message names the config key and the fix.

The module imports only the standard library, :mod:`antithetic.kinds` and :mod:`antithetic.hub_cache`,
so the Snakefile runs it while it builds the DAG.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..kinds import (
    DESIGN_KINDS,
    MODEL_KINDS,
    SAMPLER_KINDS,
    ModelKind,
    fitting_samplers,
    kinds_where,
    model_kind,
    parametrization,
    sampler_kind,
)

__all__ = [
    "ConfigError",
    "check_references",
    "check_sampler_fits",
    "lpips_fix",
    "naming_key",
    "pair_designs",
    "require",
    "runs",
    "section",
]


class ConfigError(ValueError):
    """A config value is inconsistent; the message names the key and the fix."""


@contextmanager
def naming_key(key: str, *, fix: str = "") -> Iterator[None]:
    """Re-raise an error of the library met while using config key ``key`` with the key (and ``fix``) in its message.

    The library's messages name its own function arguments; this puts the config key in front. A
    ``ValueError`` becomes a :class:`ConfigError`; other errors (a missing file, a model that cannot be
    loaded) keep their type when it can be built from a message. The original error is chained.

    Args:
        key: the dotted config key whose value was passed to the library, e.g. ``"uq.statistics.ink"``.
        fix: what to change, appended to the message.
    """
    try:
        yield
    except ConfigError:
        raise
    except (ValueError, OSError, RuntimeError, TypeError) as err:
        message = f"config key {key!r}: {err}" + (f"; {fix}" if fix else "")
        if isinstance(err, ValueError):
            raise ConfigError(message) from err
        try:
            translated = type(err)(message)
        except Exception:  # an error type not built from one message: keep it, with the key in a note
            translated = None
        if translated is None:
            err.add_note(message)
            raise
        raise translated from err


def require(config: dict[str, Any], section: str, name: str, *, used_at: str) -> dict[str, Any]:
    """Return ``config[section][name]`` or raise a :class:`ConfigError` naming ``used_at``."""
    entries = config.get(section) or {}
    if name not in entries:
        raise ConfigError(
            f"config key {used_at!r} refers to {section[:-1]} {name!r}, which is not defined under "
            f"'{section}:' (defined: {sorted(entries)}). Add it there or fix the name."
        )
    return entries[name]


def section(config: dict[str, Any], dotted: str) -> Any:
    """The value at ``dotted``, e.g. ``"symmetry.trajectories"``; an absent or null one reads as ``{}``."""
    node: Any = config
    for key in dotted.split("."):
        node = (node or {}).get(key) if isinstance(node, dict) else None
    return node or {}


def runs(config: dict[str, Any], dotted: str) -> list[tuple[str, str]]:
    """The ``(model, sampler)`` pairs of a ``runs:`` mapping (model -> list of samplers) at ``dotted``."""
    mapping = section(config, dotted)
    return [(model, sampler) for model, samplers in mapping.items() for sampler in samplers or []]


def check_sampler_fits(config: dict[str, Any], model: str, sampler: str, *, used_at: str) -> None:
    """Raise :class:`ConfigError` unless ``sampler``'s kind can sample ``model``'s kind and parametrization.

    The parametrization is the kind's own or, for ``kind: python``, the optional
    ``models.<model>.parametrization``; without it the check of a python model's parametrization
    happens when the model object is loaded (:func:`antithetic.samplers.check_model_fits_sampler`).
    """
    spec = config["models"][model]
    declared = spec.get("parametrization")
    with naming_key(f"models.{model}.kind"):
        mkind = model_kind(spec.get("kind"))
    with naming_key(f"samplers.{sampler}.kind"):
        skind = sampler_kind(config["samplers"][sampler].get("kind"))
    with naming_key(f"models.{model}.parametrization"):
        fits = fitting_samplers(mkind, declared)
    if skind.name not in fits:
        what = f"kind {mkind.name!r}" + (f", parametrization {declared!r}" if declared else "")
        raise ConfigError(
            f"config key {used_at!r} pairs model {model!r} ({what}) with sampler {sampler!r} "
            f"(kind {skind.name!r}); that model needs a sampler of kind "
            + " or ".join(repr(k) for k in sorted(fits))
        )


def _model_kind(config: dict[str, Any], model: str) -> ModelKind:
    with naming_key(f"models.{model}.kind"):
        return model_kind(config["models"][model].get("kind"))


def _check_runs(config: dict[str, Any], dotted: str) -> Iterator[tuple[str, str]]:
    for model, sampler in runs(config, dotted):
        used_at = f"{dotted}.{model}"
        require(config, "models", model, used_at=used_at)
        require(config, "samplers", sampler, used_at=used_at)
        check_sampler_fits(config, model, sampler, used_at=used_at)
        yield model, sampler


def _check_models(config: dict[str, Any], dotted: str, *, family: str | None = None) -> None:
    for model in section(config, dotted):
        spec = require(config, "models", model, used_at=dotted)
        if family and _model_kind(config, model).family != family:
            raise ConfigError(
                f"config key {dotted!r} lists {model!r} of kind {spec.get('kind')!r}; it takes {family} models "
                f"only (kinds {kinds_where(family=family)})"
            )


def _need_designs(config: dict[str, Any], names: tuple[str, ...], *, used_at: str) -> None:
    for name in names:
        require(config, "designs", name, used_at=used_at)


def _check_estimator(config: dict[str, Any], design: str, *, used_at: str) -> None:
    """The design named at ``used_at`` must feed an estimator (:attr:`antithetic.kinds.DesignKind.estimator`)."""
    kind = require(config, "designs", design, used_at=used_at).get("kind")
    if DESIGN_KINDS[kind].estimator is None:
        raise ConfigError(
            f"config key {used_at!r} names design {design!r} of kind {kind!r}, which feeds no estimator; "
            f"name a design of kind {sorted(k for k, d in DESIGN_KINDS.items() if d.estimator)}"
        )


def pair_designs(config: dict[str, Any]) -> tuple[str, str]:
    """The PN and RR designs of every PN-vs-RR comparison (``correlation.designs``)."""
    designs = section(config, "correlation.designs")
    return designs.get("pn", "antithetic"), designs.get("rr", "iid-disjoint")


def _check_pair_designs(config: dict[str, Any], *, used_at: str) -> None:
    """PN pairs need an antithetic design, RR pairs an iid one whose noise indices differ from PN's."""
    pn, rr = pair_designs(config)
    pn_spec = require(config, "designs", pn, used_at=f"correlation.designs.pn ({used_at})")
    rr_spec = require(config, "designs", rr, used_at=f"correlation.designs.rr ({used_at})")
    if pn_spec.get("kind") != "antithetic":
        raise ConfigError(f"config key 'correlation.designs.pn' names {pn!r} of kind {pn_spec.get('kind')!r}; PN pairs need kind 'antithetic'")
    if rr_spec.get("kind") != "iid":
        raise ConfigError(f"config key 'correlation.designs.rr' names {rr!r} of kind {rr_spec.get('kind')!r}; RR pairs need kind 'iid'")
    if rr_spec.get("offset", 0) == pn_spec.get("offset", 0):
        raise ConfigError(
            f"config key 'correlation.designs.rr': design {rr!r} draws the same noise indices as {pn!r} (iid sample g is PN "
            f"pair g's z); give it an offset, e.g. designs: {{{rr}: {{kind: iid, offset: 1048576}}}}"
        )


def _check_symmetry_models(config: dict[str, Any]) -> None:
    """Probed models need a noise predictor eps_t; those without data need ``symmetry.data_sampler``."""
    own_samples = []
    for dotted in ("symmetry.models", "symmetry.fisher.models"):
        _check_models(config, dotted, family="diffusion")
        for model in section(config, dotted):
            kind = _model_kind(config, model)
            if "ddim" not in kind.samplers:
                raise ConfigError(
                    f"config key {dotted!r} lists {model!r} of kind {kind.name!r}, which predicts no noise eps_t; "
                    f"use a model of kind {sorted(k for k, v in MODEL_KINDS.items() if 'ddim' in v.samplers)}"
                )
            if not kind.analytic and "train" not in config["models"][model]:
                own_samples.append(model)
    if own_samples:
        sampler = section(config, "symmetry").get("data_sampler", "ddim")
        require(config, "samplers", sampler, used_at="symmetry.data_sampler")
        for model in own_samples:
            check_sampler_fits(config, model, sampler, used_at="symmetry.data_sampler")


def lpips_fix(perceptual: list[str]) -> str:
    """What to set ``diversity.perceptual`` to when LPIPS cannot run: the list without lpips (valid on any image
    size when empty: SSIM only; ``classifier`` is for the 8x8 digits models only)."""
    rest = [m for m in perceptual if m != "lpips"]
    ssim_only = "[] (SSIM only, which every run measures; valid for any image size)"
    if not rest:
        return f"or set diversity.perceptual: {ssim_only}"
    return f"or set diversity.perceptual: [{', '.join(rest)}] (the other measures it lists), or {ssim_only}"


def _check_lpips(config: dict[str, Any]) -> None:
    """``diversity.perceptual`` lists lpips: its AlexNet weights must be cached (they are never downloaded)."""
    from ..hub_cache import alexnet_weights_path

    perceptual = list(section(config, "diversity").get("perceptual") or [])
    weights = alexnet_weights_path()
    if "lpips" in perceptual and not weights.is_file():
        raise ConfigError(
            f"config key 'diversity.perceptual' lists lpips, which needs torchvision's AlexNet weights in {str(weights)!r}; "
            "they are never downloaded by the workflow. Fetch them once where the network is reachable "
            "(python -c \"import torchvision; torchvision.models.alexnet(weights='DEFAULT')\"), "
            + lpips_fix(perceptual)
        )


def _check_inverse(config: dict[str, Any]) -> None:
    """What :mod:`antithetic.inverse` requires of the DPS stage's values (it raises on them only at job time)."""
    inverse = section(config, "inverse")
    if not inverse.get("model"):
        return
    samples = inverse.get("samples", 8)
    if samples < 4 or samples % 2:
        raise ConfigError(f"config key 'inverse.samples' must be an even number >= 4 (AMC uses samples/2 pairs), got {samples}")
    kernel_size = ((inverse.get("tasks") or {}).get("deblurring") or {}).get("kernel_size", 3)
    if kernel_size % 2 == 0:
        raise ConfigError(f"config key 'inverse.tasks.deblurring.kernel_size' must be odd, got {kernel_size}; use e.g. {kernel_size + 1}")


def check_references(config: dict[str, Any]) -> None:
    """Raise :class:`ConfigError` for a dangling or ill-fitting name in any section of ``config``."""
    for name, spec in (config.get("models") or {}).items():
        if spec.get("kind") not in MODEL_KINDS:
            raise ConfigError(f"config key 'models.{name}.kind' is {spec.get('kind')!r}; known: {sorted(MODEL_KINDS)}")
        if "parametrization" in spec:
            if spec["kind"] != "python":
                raise ConfigError(
                    f"config key 'models.{name}.parametrization' applies to kind 'python' only (kind {spec['kind']!r} "
                    "states its own); remove the key"
                )
            with naming_key(f"models.{name}.parametrization"):
                parametrization(spec["parametrization"])
    for name, spec in (config.get("designs") or {}).items():
        if spec.get("kind") not in DESIGN_KINDS:
            raise ConfigError(f"config key 'designs.{name}.kind' is {spec.get('kind')!r}; known: {sorted(DESIGN_KINDS)}")
    for name, spec in (config.get("samplers") or {}).items():
        if spec.get("kind") not in SAMPLER_KINDS:
            raise ConfigError(f"config key 'samplers.{name}.kind' is {spec.get('kind')!r}; known: {sorted(SAMPLER_KINDS)}")
        if spec.get("kind") == "ddpm" and "eta" in spec:
            raise ConfigError(f"config key 'samplers.{name}.eta': ddpm always has eta = 1; remove the key or use kind: ddim")

    # Table 1: PN pairs from `antithetic`, RR pairs from `iid`
    if list(_check_runs(config, "correlation.runs")):
        _check_pair_designs(config, used_at="correlation")

    # eta sweep: DDIM samplers only
    sweep = section(config, "eta_sweep")
    _check_models(config, "eta_sweep.models", family="diffusion")
    for model in sweep.get("models") or []:
        for sampler in sweep.get("samplers") or []:
            spec = require(config, "samplers", sampler, used_at="eta_sweep.samplers")
            if spec.get("kind") != "ddim":
                raise ConfigError(
                    f"config key 'eta_sweep.samplers' lists {sampler!r} of kind {spec.get('kind')!r}; the eta sweep takes ddim samplers only"
                )
            check_sampler_fits(config, model, sampler, used_at="eta_sweep")
    if sweep.get("models") and sweep.get("samplers"):
        _check_pair_designs(config, used_at="eta_sweep")

    # guidance sweep: guided kinds only
    guided = list(_check_runs(config, "guidance.runs"))
    for model, _ in guided:
        kind = config["models"][model]["kind"]
        if not MODEL_KINDS[kind].guided:
            raise ConfigError(
                f"config key 'guidance.runs.{model}': kind {kind!r} has no classifier-free guidance; use a model of "
                f"kind {kinds_where(guided=True)}"
            )
    if guided:
        _check_pair_designs(config, used_at="guidance")

    # score symmetry
    _check_symmetry_models(config)
    if list(_check_runs(config, "symmetry.trajectories.runs")):
        _check_pair_designs(config, used_at="symmetry.trajectories")
    if list(_check_runs(config, "symmetry.partial.runs")):
        design = section(config, "symmetry.partial").get("design", "partial-top")
        spec = require(config, "designs", design, used_at="symmetry.partial.design")
        if spec.get("kind") != "partial":
            raise ConfigError(f"config key 'symmetry.partial.design' must name a design of kind 'partial', got {design!r} of kind {spec.get('kind')!r}")
        _need_designs(config, ("antithetic",), used_at="symmetry.partial (full-negation reference)")

    # uncertainty quantification
    uq = section(config, "uq")
    for method, spec in (uq.get("methods") or {}).items():
        _check_estimator(config, spec["design"], used_at=f"uq.methods.{method}.design")
    for method, design in (section(config, "uq.coverage").get("methods") or {}).items():
        _check_estimator(config, design, used_at=f"uq.coverage.methods.{method}")
    uq_models = {model for model, _ in _check_runs(config, "uq.runs")}
    for model in (uq.get("semantic") or {}).get("models") or []:
        if model not in uq_models:
            raise ConfigError(f"config key 'uq.semantic.models' names {model!r}, which has no run in 'uq.runs' "
                              f"({sorted(uq_models)}); add it there or remove it")
    for model, _ in _check_runs(config, "uq.coverage.runs"):
        if not MODEL_KINDS[config["models"][model]["kind"]].analytic:
            raise ConfigError(
                f"config key 'uq.coverage.runs.{model}': coverage needs a known truth; use an analytic model "
                f"(kinds {kinds_where(analytic=True)})"
            )
    if runs(config, "uq.runs"):
        maps = uq.get("maps") or {}
        for method in maps.get("methods") or []:
            if method not in (uq.get("methods") or {}):
                raise ConfigError(f"config key 'uq.maps.methods' names {method!r}, which is not a key of 'uq.methods' ({sorted(uq.get('methods') or {})})")
        if maps.get("statistic") and maps["statistic"] not in (uq.get("statistics") or {}):
            raise ConfigError(f"config key 'uq.maps.statistic' names {maps['statistic']!r}, which is not a key of 'uq.statistics' ({sorted(uq.get('statistics') or {})})")

    # ---------------------------------------------------------------- sample quality, diversity, editing, DPS
    # the quality stage compares the z and -z members of PN pairs with iid samples
    if list(_check_runs(config, "quality.runs")):
        _need_designs(config, ("iid", "antithetic"), used_at="quality (z, -z and iid samples)")
        quality = section(config, "quality")
        pairs, nearest_k = quality.get("pairs", 500), quality.get("nearest_k", 5)
        if nearest_k >= pairs:
            raise ConfigError(
                f"config key 'quality.nearest_k' is {nearest_k}; precision, recall, density and coverage need more samples "
                f"per set than neighbours (quality.pairs = {pairs}); lower it to at most {pairs - 1} or raise quality.pairs"
            )
    # Table 4 (diversity): PN pairs from `antithetic`, RR pairs from `iid`
    if list(_check_runs(config, "diversity.runs")):
        _need_designs(config, ("iid", "antithetic"), used_at="diversity (RR and PN pairs)")
        _check_lpips(config)
    # Table 3 (DPS) and SDEdit-style editing: one diffusion model each
    _check_inverse(config)
    for stage in ("inverse", "editing"):
        name = section(config, stage).get("model")
        if name:
            spec = require(config, "models", name, used_at=f"{stage}.model")
            if _model_kind(config, name).family != "diffusion":
                raise ConfigError(
                    f"config key '{stage}.model' names {name!r} of kind {spec.get('kind')!r}; it needs a diffusion "
                    f"model (kinds {kinds_where(family='diffusion')})"
                )
    _check_flowedit(config)


def _check_flowedit(config: dict[str, Any]) -> None:
    """FlowEdit edits between the classes of a class-conditional diffusion model with classifier-free guidance,
    on its DDIM grid of ``num_steps`` steps."""
    flowedit = section(config, "flowedit")
    name = flowedit.get("model")
    if not name:
        return
    spec = require(config, "models", name, used_at="flowedit.model")
    kind = _model_kind(config, name)
    if kind.family != "diffusion" or not kind.guided:
        raise ConfigError(
            f"config key 'flowedit.model' names {name!r} of kind {spec.get('kind')!r}; FlowEdit edits a source class into a "
            f"target class, so it needs a class-conditional diffusion model with classifier-free guidance (kinds "
            f"{kinds_where(family='diffusion', guided=True)})"
        )
    num_steps = int(flowedit.get("num_steps", 50))
    outside = [n for n in flowedit.get("n_max") or [] if not 1 <= int(n) <= num_steps]
    if outside:
        raise ConfigError(
            f"config key 'flowedit.n_max' lists {outside}, outside [1, flowedit.num_steps = {num_steps}]; FlowEdit takes the "
            "n_max least noisy steps of its grid: lower them or raise flowedit.num_steps"
        )
