"""Shared start-up of the workflow scripts: import path, fork server, log file, threads, execution settings.

Importing torch costs more than a table or plot job does, so start-up never imports it: the thread
count reaches torch through ``OMP_NUM_THREADS`` (read when a job first imports torch), or through
``torch.set_num_threads`` in a child of the fork server, where torch is imported already.
"""

import atexit
import logging
import os
import sys
from pathlib import Path


def start(snakemake, *, forkserver=None):
    """Make ``antithetic`` importable, log to the rule's log file, honour ``threads``.

    With ``forkserver`` set to a pool of :data:`antithetic.workflow.forkserver.POOLS` (``"network"`` for the jobs
    that import torch and diffusers, ``"table"`` for table, figure and claim jobs) the job first offers
    itself to that pool's fork server: if the server takes it, the job's script runs from its first
    line in a child of the server, where those imports are done, and this process exits with the
    child's status; otherwise the job goes on here.

    Returns the execution settings of the profile: ``(device, batch_size, log)``.
    """
    src = Path(snakemake.scriptdir).resolve().parents[1] / "src"
    if str(src) not in sys.path:
        sys.path.insert(0, str(src))
    threads = max(1, int(snakemake.threads))
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(threads)
    handed = None
    if forkserver:
        from antithetic.workflow import forkserver as server

        handed = server.handoff(sys.argv[0], pool=forkserver)
        if handed.status is not None:
            os._exit(handed.status)
        if server.in_child():  # the server loaded numpy's BLAS before this job's thread count was known
            from threadpoolctl import threadpool_limits

            threadpool_limits(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)

    handlers = [logging.StreamHandler(sys.stderr)]
    if snakemake.log:
        Path(snakemake.log[0]).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(snakemake.log[0], mode="w"))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", handlers=handlers, force=True)
    resources = snakemake.resources
    device = str(getattr(resources, "device", "auto") or "auto")
    batch_size = int(getattr(resources, "batch_size", 500) or 500)
    log = logging.getLogger(f"antithetic.{snakemake.rule}")
    log.info("rule %s wildcards=%s threads=%d device=%s batch_size=%d", snakemake.rule, dict(snakemake.wildcards), threads, device, batch_size)
    if handed is not None:
        log.info("fork server: %s", handed.reason)
    # what the job ended up importing: the end-to-end tests check that table, plot and claim jobs stay cheap
    atexit.register(lambda: log.info("imported: torch=%s diffusers=%s", "torch" in sys.modules, "diffusers" in sys.modules))
    return device, batch_size, log
