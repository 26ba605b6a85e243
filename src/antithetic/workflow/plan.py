"""The plan: the one place where an experiment config becomes runs and output paths.

The Snakemake rules (``workflow/rules/*.smk``), the claims ledger (:mod:`.claims`) and the README
block (:mod:`.readme`) all read the paths and run lists below; none of them writes a path or a run
list of its own. Paths are Snakemake patterns: ``{model}``, ``{sampler}``, ... are wildcards in a
rule's output and are filled with :meth:`str.format` (or :func:`fill`) where a consumer needs one file.

This module imports only the standard library, :mod:`.config` and :mod:`antithetic.kinds` (the DAG build reads it).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from .config import runs, section

__all__ = ["Plan", "TABLES", "WRITERS", "fill", "ledger", "table"]

# ------------------------------------------------------------------ output paths
MODEL = "results/models/{model}"
CLASSIFIER = "results/models/digits-classifier"
SAMPLES = "results/samples/{model}/{sampler}/{design}_n{n}_seed{seed}.npz"
SAMPLES_PROVENANCE = "results/samples/{model}/{sampler}/{design}_n{n}_seed{seed}.json"
GUIDED = "results/guidance/{model}/{sampler}/w{scale}/{design}_n{n}_seed{seed}.npz"
GUIDED_PROVENANCE = "results/guidance/{model}/{sampler}/w{scale}/{design}_n{n}_seed{seed}.json"
GUIDANCE_SWEEP = "results/guidance/{model}/{sampler}/sweep_{pairs}.csv"
GUIDANCE_SWEEP_PAIRS = "results/guidance/{model}/{sampler}/sweep_{pairs}_pairs.csv"
GUIDANCE_SWEEP_SUMMARY = "results/guidance/{model}/{sampler}/sweep_{pairs}.json"
GUIDANCE_ACCURACY = "results/guidance/{model}/{sampler}/accuracy_{pairs}.csv"
PAIRS = "results/correlation/{model}/{sampler}/pairs_{pairs}.csv"
CORRELATION_SUMMARY = "results/correlation/{model}/{sampler}/summary_{pairs}.json"
ETA_SWEEP = "results/eta_sweep/eta_sweep.csv"
AS_SCORES = "results/symmetry/{model}/as_scores.csv"
SYMMETRY_SUMMARY = "results/symmetry/{model}/summary.csv"
SYMMETRY_SLICES = "results/symmetry/{model}/slices.npz"
SYMMETRY_BREAKS = "results/symmetry/breaks.json"
TRAJECTORY = "results/symmetry/{model}/{sampler}/trajectory_{pairs}.csv"
FISHER = "results/symmetry/fisher.csv"
FISHER_RECORD = "results/symmetry/fisher.json"
PARTIAL_MAP = "results/symmetry/{model}/{sampler}/partial_map_{pairs}.npz"
PARTIAL_SUMMARY = "results/symmetry/{model}/{sampler}/partial_map_{pairs}.json"
UQ_ESTIMATES = "results/uq/{model}/{sampler}/estimates.csv"
UQ_CI_VS_N = "results/uq/{model}/{sampler}/ci_vs_n.csv"
UQ_PIXEL_MAPS = "results/uq/{model}/{sampler}/pixel_maps.npz"
UQ_COVERAGE = "results/uq/{model}/{sampler}/coverage.csv"
UQ_COVERAGE_RECORD = "results/uq/{model}/{sampler}/coverage.json"
QUALITY = "results/quality/{model}/{sampler}/quality_{pairs}.csv"
QUALITY_SUMMARY = "results/quality/{model}/{sampler}/quality_{pairs}.json"
DIVERSITY_PAIRS = "results/diversity/{model}/{sampler}/pairs_{pairs}.csv"
DIVERSITY_SUMMARY = "results/diversity/{model}/{sampler}/summary_{pairs}.json"
INVERSE = "results/inverse/{model}/{task}/measurements.csv"
INVERSE_SUMMARY = "results/inverse/{model}/{task}/summary.json"
EDITING = "results/editing/{model}/measures.csv"
EDITING_SUMMARY = "results/editing/{model}/win_rates.json"
FLOWEDIT = "results/flowedit/{model}/measures.csv"
FLOWEDIT_SUMMARY = "results/flowedit/{model}/win_rates.json"
FLOWEDIT_EDITS = "results/flowedit/{model}/edits.npz"
CLAIM = "results/claims/{id}.json"
README_RESULTS = "results/README.results.md"

# figures, each drawn by a rule of its own from the data or table files another job wrote: a plotting edit
# reruns the figure rules alone
SYMMETRY_SLICES_FIGURE = "figures/symmetry/{model}_slices.png"
TRAJECTORY_FIGURE = "figures/symmetry/{model}_{sampler}_{pairs}_trajectory.png"
FISHER_FIGURE = "figures/symmetry/theorem1_fisher.png"
AS_VS_NOISE_FIGURE = "figures/symmetry/as_vs_noise.png"
PARTIAL_MAP_FIGURE = "figures/symmetry/{model}_{sampler}_{pairs}_partial_map.png"
ETA_SWEEP_FIGURE = "figures/eta_sweep/eta_sweep.png"
GUIDANCE_SWEEP_FIGURE = "figures/guidance/{model}_{sampler}_{pairs}.png"
INVERSE_FIGURE = "figures/inverse/efficiency.png"
DIVERSITY_FIGURE = "figures/diversity/diversity.png"
QUALITY_FIGURE = "figures/quality/quality.png"
EDITING_FIGURE = "figures/editing/win_rates.png"
FLOWEDIT_FIGURE = "figures/flowedit/win_rates.png"
FLOWEDIT_GRID = "figures/flowedit/edits.png"
# figures the README shows besides the report's
PAIR_GRID = "figures/pairs/{model}_{sampler}_{pairs}_grid.png"
CI_VS_N = "figures/uq/ci_vs_n.png"
FOREST = "figures/claims/forest.png"


#: output pattern -> the rule that writes it, for the outputs that jobs read back as binary files (named in the
#: message of a damaged one); a model folder's rule depends on the model (:meth:`Plan.writer`)
WRITERS = {
    SAMPLES: "sample",
    GUIDED: "guided_sample",
    SYMMETRY_SLICES: "symmetry_probe",
    PARTIAL_MAP: "partial_map",
    UQ_PIXEL_MAPS: "uq_estimates",
    CLASSIFIER: "train_classifier",
    MODEL: None,
}


def _pattern_regex(pattern: str, *, folder: bool) -> re.Pattern:
    """A regex of ``pattern``'s paths (each wildcard one path component); with ``folder`` also of files under it."""
    parts = re.split(r"\{\w+\}", pattern)
    body = "[^/]+".join(re.escape(part) for part in parts)
    return re.compile(body + ("(?:/.*)?" if folder else "") + r"\Z")


def table(name: str, suffix: str = "csv") -> str:
    """``results/tables/<name>.<suffix>``: every table is written as .csv, .md and .tex."""
    return f"results/tables/{name}.{suffix}"


def ledger(suffix: str) -> str:
    """``results/claims.<suffix>``: the claims ledger as .csv, .md, .tex and .json."""
    return f"results/claims.{suffix}"


def fill(pattern: str, **wildcards: Any) -> str:
    """``pattern`` with its wildcards filled (a clearer error than :meth:`str.format` for a missing one)."""
    try:
        return pattern.format(**wildcards)
    except KeyError as err:
        raise KeyError(f"path {pattern!r} needs the wildcard {err.args[0]!r}") from None


@dataclass(frozen=True)
class StageTable:
    """A stage's table: its name under ``results/tables`` and the config key that must be set for it to run."""

    name: str
    requires: str


#: tables of the stages that run only when their config key is set (Table 1 and the ledger always run)
TABLES = {
    "table2": StageTable("table2", "uq.runs"),
    "coverage": StageTable("coverage", "uq.coverage.runs"),
    "symmetry": StageTable("symmetry_as", "symmetry.models"),
    "table3": StageTable("table3", "inverse.model"),
    "table4": StageTable("table4", "diversity.runs"),
    "quality": StageTable("quality", "quality.runs"),
    "editing": StageTable("editing", "editing.model"),
    "flowedit": StageTable("flowedit", "flowedit.model"),
}


class Plan:
    """The runs of a (validated) config and the files they write.

    Args:
        config: the experiment config after schema validation (defaults filled).
    """

    def __init__(self, config: dict[str, Any]):
        self.config = config

    @property
    def seed(self) -> int:
        return int(self.config.get("seed", 0))

    # ------------------------------------------------------------------ samples
    def samples(self, model: str, sampler: str, design: str, n: int, seed: int | None = None) -> str:
        """The ``.npz`` of ``n`` samples of ``model`` under ``sampler`` and noise ``design``."""
        return fill(SAMPLES, model=model, sampler=sampler, design=design, n=n, seed=self.seed if seed is None else seed)

    @property
    def pn_design(self) -> str:
        return section(self.config, "correlation.designs")["pn"]

    @property
    def rr_design(self) -> str:
        return section(self.config, "correlation.designs")["rr"]

    # ------------------------------------------------------------------ Table 1 and the eta sweep
    @cached_property
    def correlation_runs(self) -> list[tuple[str, str]]:
        return runs(self.config, "correlation.runs")

    @cached_property
    def eta_sweep_runs(self) -> list[tuple[str, str]]:
        sweep = section(self.config, "eta_sweep")
        return [(m, s) for m in sweep.get("models") or [] for s in sweep.get("samplers") or []]

    def correlation_pairs(self, model: str, sampler: str) -> int:
        """Pairs of a Table 1 row: ``correlation.pairs``, or ``eta_sweep.pairs`` for a sweep-only row."""
        corr = section(self.config, "correlation")
        if (model, sampler) in self.correlation_runs:
            return int(corr["pairs"])
        return int(section(self.config, "eta_sweep").get("pairs") or corr["pairs"])

    @cached_property
    def table1_runs(self) -> list[tuple[str, str, int]]:
        """Every Table 1 row ``(model, sampler, pairs)``: correlation.runs, then the eta-sweep rows not among them."""
        rows = self.correlation_runs + [run for run in self.eta_sweep_runs if run not in self.correlation_runs]
        return [(m, s, self.correlation_pairs(m, s)) for m, s in rows]

    def pairs_csv(self, model: str, sampler: str, pairs: int | None = None) -> str:
        pairs = self.correlation_pairs(model, sampler) if pairs is None else pairs
        return fill(PAIRS, model=model, sampler=sampler, pairs=pairs)

    def correlation_summary(self, model: str, sampler: str) -> str:
        return fill(CORRELATION_SUMMARY, model=model, sampler=sampler, pairs=self.correlation_pairs(model, sampler))

    # ------------------------------------------------------------------ symmetry
    @cached_property
    def symmetry_models(self) -> list[str]:
        return list(section(self.config, "symmetry").get("models") or [])

    @cached_property
    def trajectory_runs(self) -> list[tuple[str, str]]:
        return runs(self.config, "symmetry.trajectories.runs")

    @property
    def trajectory_pairs(self) -> int:
        return int(section(self.config, "symmetry.trajectories")["pairs"])

    def trajectory_csv(self, model: str, sampler: str) -> str:
        return fill(TRAJECTORY, model=model, sampler=sampler, pairs=self.trajectory_pairs)

    @cached_property
    def fisher_models(self) -> list[str]:
        return list(section(self.config, "symmetry.fisher").get("models") or [])

    @cached_property
    def partial_runs(self) -> list[tuple[str, str]]:
        return runs(self.config, "symmetry.partial.runs")

    @property
    def partial_pairs(self) -> int:
        return int(section(self.config, "symmetry.partial")["pairs"])

    @property
    def partial_design(self) -> str:
        return section(self.config, "symmetry.partial")["design"]

    # ------------------------------------------------------------------ uncertainty quantification
    @cached_property
    def uq_runs(self) -> list[tuple[str, str]]:
        return runs(self.config, "uq.runs")

    def uq_runs_with(self, statistic: str | None) -> list[tuple[str, str]]:
        """The Table-2 runs whose rows hold ``statistic``: every run for a statistic of ``uq.statistics``
        (or ``None``), none for a statistic the config does not estimate, the runs of ``uq.semantic.models`` for a semantic one, and of those only the
        class-conditional (guided) models for ``requested_class_probability`` and only the others for the class
        law (``class_probabilities``, ``predicted_class``)."""
        uq = self.config.get("uq") or {}
        if statistic is None or statistic in (uq.get("statistics") or {}):
            return self.uq_runs
        semantic = uq.get("semantic") or {}
        if statistic not in (semantic.get("statistics") or []):  # a statistic this config does not estimate
            return []
        from ..kinds import model_kind

        chosen = set(semantic.get("models") or [])
        guided = {m for m in chosen if model_kind(self.config["models"][m]["kind"]).guided}
        if statistic == "requested_class_probability":
            chosen = guided
        elif statistic in ("class_probabilities", "predicted_class"):  # the class law of the requested labels
            chosen -= guided
        return [(m, s) for m, s in self.uq_runs if m in chosen]

    @cached_property
    def uq_coverage_runs(self) -> list[tuple[str, str]]:
        return runs(self.config, "uq.coverage.runs")

    # ------------------------------------------------------------------ quality, diversity, inverse, editing, guidance
    @cached_property
    def quality_runs(self) -> list[tuple[str, str]]:
        return runs(self.config, "quality.runs")

    @cached_property
    def diversity_runs(self) -> list[tuple[str, str]]:
        return runs(self.config, "diversity.runs")

    @cached_property
    def inverse_tasks(self) -> list[str]:
        inverse = section(self.config, "inverse")
        return list(inverse.get("tasks") or []) if inverse.get("model") else []

    @cached_property
    def guidance_runs(self) -> list[tuple[str, str]]:
        return runs(self.config, "guidance.runs")

    @property
    def guidance_pairs(self) -> int:
        return int(section(self.config, "guidance")["pairs"])

    def guidance_sweep_pairs(self, model: str, sampler: str) -> str:
        """The per-pair correlations of a guidance sweep at every scale (``guidance.pairs`` pairs per scale)."""
        return fill(GUIDANCE_SWEEP_PAIRS, model=model, sampler=sampler, pairs=self.guidance_pairs)

    def guidance_classified(self, model: str) -> bool:
        """Whether the digits classifier scores ``model``'s guided samples (their classes are the ten digits): a
        model the workflow trains class-conditionally on the digits (``train`` with ``num_classes``) or a
        class-conditional mixture on the digit class means."""
        spec = (self.config.get("models") or {}).get(model) or {}
        train = spec.get("train") or {}
        if "num_classes" in train:
            return train.get("dataset", "digits") == "digits"
        return spec.get("kind") == "class_gaussian_mixture" and spec.get("means", "digits") == "digits"

    @cached_property
    def guidance_accuracy_runs(self) -> list[tuple[str, str]]:
        """The guidance sweeps whose samples the digits classifier scores (:meth:`guidance_classified`)."""
        return [(m, s) for m, s in self.guidance_runs if self.guidance_classified(m)]

    def guidance_accuracy(self, model: str, sampler: str, pairs: int | None = None) -> str:
        """Per-sample classification of a guidance sweep's samples at every scale."""
        return fill(GUIDANCE_ACCURACY, model=model, sampler=sampler, pairs=self.guidance_pairs if pairs is None else int(pairs))

    def guided_samples(self, model: str, sampler: str, scale: float, design: str, pairs: int | None = None) -> str:
        """The samples of a guidance sweep of ``pairs`` pairs (default ``guidance.pairs``) at scale ``scale`` under
        ``design``: ``2 x pairs`` samples or more.

        At the model's own ``guidance_scale`` a Table 1 row of the same model and sampler has drawn them already
        (sample ``k`` depends only on the seed and ``k``): its file is used when it holds at least as many pairs,
        and the sweep reads its first ``2 x pairs`` samples. Elsewhere the sweep's own file (rule guided_sample).
        """
        spec = (self.config.get("models") or {}).get(model) or {}
        pairs = self.guidance_pairs if pairs is None else int(pairs)
        if (
            "guidance_scale" in spec and float(spec["guidance_scale"]) == float(scale)
            and (model, sampler) in self.correlation_runs and self.correlation_pairs(model, sampler) >= pairs
        ):
            return self.samples(model, sampler, design, 2 * self.correlation_pairs(model, sampler))
        return fill(GUIDED, model=model, sampler=sampler, scale=f"{float(scale):g}", design=design, n=2 * pairs, seed=self.seed)

    # ------------------------------------------------------------------ models and samplers by what they are
    def models_where(self, selector: list[str] | dict[str, Any] | None) -> set[str]:
        """The models of the config that ``selector`` picks (a claim's ``models:``).

        ``None`` picks every model; a list picks those names; a mapping picks by what a model is:
        ``pretrained: true`` the models loaded from a checkpoint (``models.<name>.pretrained``: a hub id
        or a local ``save_pretrained`` folder; not trained by the workflow, not analytic), ``false`` the
        others; ``kinds: [...]`` the models of those kinds. The keys of a mapping must all hold.
        """
        models = self.config.get("models") or {}
        if selector is None:
            return set(models)
        if isinstance(selector, list):
            return set(selector)
        chosen = set(models)
        if "pretrained" in selector:
            chosen = {m for m in chosen if ("pretrained" in models[m] and "train" not in models[m]) == bool(selector["pretrained"])}
        if "kinds" in selector:
            chosen = {m for m in chosen if models[m].get("kind") in selector["kinds"]}
        return chosen

    def injected_noise(self, sampler: str) -> float | None:
        """How much fresh noise a DDIM-family sampler injects per step: DDIM's ``eta`` (0 = deterministic),
        1 for DDPM (the posterior variance, DDIM at eta = 1); ``None`` for samplers outside that family."""
        spec = (self.config.get("samplers") or {}).get(sampler) or {}
        if spec.get("kind") == "ddim":
            return float(spec.get("eta") or 0.0)
        if spec.get("kind") == "ddpm":
            return 1.0
        return None

    @cached_property
    def sampler_gap_runs(self) -> list[tuple[str, str, str]]:
        """``(model, base, other)`` of every Table 1 model run with a deterministic DDIM sampler ``base``
        (eta 0) and a DDIM-family sampler ``other`` that injects noise (DDIM eta > 0, DDPM): the comparisons
        of Table 5 and the eta sweep. Ordered by how much noise ``other`` injects (DDIM by eta, then DDPM),
        then by Table 1's order."""
        rows = [(m, s) for m, s, _ in self.table1_runs]
        order = {s: i for i, (_, s) in reversed(list(enumerate(rows)))}
        out = []
        for model, other in rows:
            level = self.injected_noise(other)
            if not level:
                continue
            for m, base in rows:
                if m == model and self.injected_noise(base) == 0.0:
                    out.append((model, base, other))

        def key(run):
            other = run[2]
            return (self.injected_noise(other), self.config["samplers"][other]["kind"] == "ddpm", order[other])

        return sorted(out, key=key)  # stable: Table 1's order within a sampler

    # ------------------------------------------------------------------ tables of the stages this config runs
    def runs_stage(self, key: str) -> bool:
        """Whether the stage that needs config key ``key`` (e.g. ``"inverse.model"``) runs under this config."""
        return bool(section(self.config, key))

    def stage_tables(self) -> dict[str, str]:
        """``{name: csv}`` of the stage tables (:data:`TABLES`) this config writes."""
        return {name: table(t.name) for name, t in TABLES.items() if self.runs_stage(t.requires)}

    # ------------------------------------------------------------------ who writes a file
    def writer(self, path: str | os.PathLike) -> tuple[str, str] | None:
        """``(rule, output)``: the rule of :data:`WRITERS` whose output ``path`` is or lies in, or ``None``.

        ``output`` is the file or model folder to delete before that rule runs again (a damaged weights
        file lies in its model's folder, the rule's output). ``path`` is relative to the working
        directory or absolute. A model folder is written by ``train_model`` (a ``train:`` entry) or
        ``fetch_model`` (a hub id or local folder the workflow fetches).
        """
        path = os.path.normpath(path)
        if os.path.isabs(path):
            path = os.path.relpath(path)
        for pattern, rule in WRITERS.items():
            folder = pattern in (MODEL, CLASSIFIER)
            if not _pattern_regex(pattern, folder=folder).match(path):
                continue
            output = "/".join(path.split("/")[: pattern.count("/") + 1]) if folder else path
            if rule is None:
                name = output.split("/")[-1]
                models = self.config.get("models") or {}
                if name in models:
                    rule = "train_model" if "train" in models[name] else "fetch_model"
                else:  # no config at hand: the workflow's own training writes training.json into the folder
                    rule = "train_model" if (Path(output) / "training.json").is_file() else "fetch_model"
            return rule, output
        return None
