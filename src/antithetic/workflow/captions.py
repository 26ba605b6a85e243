"""Wording generated from the config: table captions, the labels of the report captions and claim notes.

No caption is written for one config. What a caption says about the run (the data a stage
reconstructs, the perceptual distance of Table 4, the tasks of Table 3) is built here from the
config's sections, so the default run on digits and the paper's run on the hub checkpoints each
describe themselves:

* :func:`stage_labels`: per stage, the phrases its table job (caption) and its report caption
  (``workflow/report/*.rst``, as ``{{ snakemake.params.labels.<key> }}``) use; the rule passes them as
  the param ``labels``.
* :func:`table3_caption`, :func:`table4_caption`: the captions of Tables 3 and 4 from those labels.
* :func:`claim_context`: the values of the ``${name}`` placeholders of ``config/claims.yaml``
  (:func:`antithetic.workflow.claims.resolve_claim`). A stage the config does not run gets generic
  wording (its claim reads "not run here").

This module imports only the standard library and :mod:`.config` (the DAG build reads it).
"""

from __future__ import annotations

from typing import Any

from .config import runs, section

__all__ = ["claim_context", "diversity_labels", "inverse_labels", "perceptual_phrases", "stage_labels", "table3_caption",
           "table4_caption"]

#: Table 4's perceptual distances (config key ``diversity.perceptual``) as captions name them
PERCEPTUAL = {
    "classifier": "the distance between L2-normalised digits-classifier features (not LPIPS; higher = more diverse)",
    "lpips": "LPIPS with the AlexNet backbone (higher = more diverse)",
}
#: ... and as the claims ledger's note on the paper's value names them
PERCEPTUAL_NOTE = {
    "classifier": "a digits classifier's feature space, not LPIPS",
    "lpips": "LPIPS (AlexNet), as in the paper",
}


def perceptual_phrases(perceptual: list[str]) -> list[str]:
    """One caption phrase per perceptual distance of ``diversity.perceptual`` (an unknown name as itself)."""
    return [PERCEPTUAL.get(name, name) for name in perceptual]


def _task_phrase(task: str, params: dict[str, Any]) -> str:
    if task == "inpainting":
        return "box inpainting"
    if task == "super_resolution":
        return f"{params.get('factor', '')}x super-resolution (average pooling)"
    if task == "deblurring":
        size = params.get("kernel_size", "")
        return f"Gaussian deblurring ({size}x{size} kernel, sigma {params.get('sigma', '')})"
    return task.replace("_", " ")


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1] if items else ""


def inverse_labels(config: dict[str, Any]) -> dict[str, str]:
    """Table 3's labels: ``model``, ``truths`` (what is reconstructed, with the model's data label), ``tasks``."""
    inverse = section(config, "inverse")
    model = inverse.get("model") or ""
    data = (section(config, "models").get(model) or {}).get("data", "") if model else ""
    images = inverse.get("images")
    truths = f"the ground-truth images of {images}" + (f" ({data})" if data else "") if images else "held-out digits"
    tasks = [_task_phrase(task, params or {}) for task, params in (inverse.get("tasks") or {}).items()]
    return {"model": model, "truths": truths, "tasks": _join(tasks)}


def diversity_labels(config: dict[str, Any]) -> dict[str, Any]:
    """Table 4's labels: ``perceptual``, one phrase per perceptual distance it measures besides SSIM."""
    return {"perceptual": perceptual_phrases(section(config, "diversity").get("perceptual") or [])}


def stage_labels(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The ``labels`` param of each stage's table rule (``table3``, ``table4``)."""
    return {"table3": inverse_labels(config), "table4": diversity_labels(config)}


def table3_caption(labels: dict[str, str]) -> str:
    return (f"Table 3: DPS on {labels['truths']}; per task, MC and AMC estimates of E[L1 error] and E[PSNR] of the "
            "reconstruction at equal sample count, mean CI length over measurements, pooled efficiency "
            "(MC variance / AMC variance) with a bootstrap CI over measurements, mean pair correlation rho, "
            "wall time per sample.")


def table4_caption(labels: dict[str, Any]) -> str:
    return ("Table 4: diversity of PN pairs (z, -z) against RR pairs (independent), mean (SD) over pairs of SSIM "
            "(lower = more diverse)" + "".join(f" and of {p}" for p in labels["perceptual"])
            + "; average percentage improvement of PN over RR with a bootstrap CI.")


def claim_context(config: dict[str, Any]) -> dict[str, str]:
    """Values of the ``${name}`` placeholders of the claims file, from the stages this config runs.

    * ``perceptual_note``: what Table 4's perceptual distance is here (``diversity.perceptual``).
    * ``quality_space``, ``quality_data``: the feature space and the real data of the quality stage
      (the digits classifier's features and its held-out digits, the only ones it has).
    * ``editing_source``: what the editing stage edits (a held-out digit).
    * ``semantic_classifier``: the classifier whose statistics Table 2 estimates (``uq.semantic``).
    * ``flowedit_target``, ``flowedit_adherence``, ``flowedit_faithfulness``: what the FlowEdit stage's edits are
      conditioned on (a class here, a text prompt in the paper) and how it scores them (the digits classifier's
      probability of the target class and feature distance to the source, in place of CLIP and LPIPS).
    """
    diversity = runs(config, "diversity.runs")
    perceptual = [PERCEPTUAL_NOTE.get(p, p) for p in section(config, "diversity").get("perceptual") or []]
    perceptual_note = (f"the perceptual distance here is {_join(perceptual)}" if diversity and perceptual
                       else "the paper's perceptual distance is LPIPS")
    quality = bool(runs(config, "quality.runs"))
    dataset = section(config, "classifier").get("dataset", "digits")
    editing = bool(section(config, "editing").get("model"))
    flowedit = bool(section(config, "flowedit").get("model"))
    classifier = f"the {dataset} classifier's"
    semantic = bool((section(config, "uq").get("semantic") or {}).get("models"))
    return {
        "semantic_classifier": classifier if semantic else "a classifier's",
        "perceptual_note": perceptual_note,
        "quality_space": "classifier features" if quality else "network features",
        "quality_data": f"real {dataset}" if quality else "held-out real data",
        "editing_source": f"a real {dataset.removesuffix('s')}" if editing else "a real image",
        "flowedit_target": (f"class (the condition is a {dataset.removesuffix('s')} class; the paper's is a text prompt)" if flowedit
                            else "prompt"),
        "flowedit_adherence": (f"{classifier} probability of the target class (the paper: CLIP score)" if flowedit
                               else "the adherence to the target prompt (the paper: CLIP score)"),
        "flowedit_faithfulness": (f"the distance of {classifier} features to the source (the paper: LPIPS)" if flowedit
                                  else "the perceptual distance to the source (the paper: LPIPS)"),
    }
