"""Shared start-up of the workflow scripts: import path, log file, threads, execution settings."""

import logging
import sys
from pathlib import Path


def start(snakemake):
    """Make ``antithetic`` importable, log to the rule's log file, honour ``threads``.

    Returns the execution settings of the profile: ``(device, batch_size)``.
    """
    src = Path(snakemake.scriptdir).resolve().parents[1] / "src"
    if str(src) not in sys.path:
        sys.path.insert(0, str(src))
    import torch

    handlers = [logging.StreamHandler(sys.stderr)]
    if snakemake.log:
        Path(snakemake.log[0]).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(snakemake.log[0], mode="w"))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", handlers=handlers, force=True)
    torch.set_num_threads(max(1, int(snakemake.threads)))
    resources = snakemake.resources
    device = str(getattr(resources, "device", "auto") or "auto")
    batch_size = int(getattr(resources, "batch_size", 500) or 500)
    log = logging.getLogger(f"antithetic.{snakemake.rule}")
    log.info("rule %s wildcards=%s threads=%d device=%s batch_size=%d", snakemake.rule, dict(snakemake.wildcards), snakemake.threads, device, batch_size)
    return device, batch_size, log
