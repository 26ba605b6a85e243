"""Shared start-up of the workflow scripts: import path, fork server, log file, threads, execution settings.

The job imports ``antithetic`` from its own checkout (``src/`` next to ``workflow/``), ahead of any other
copy on the path (an editable install of another clone, ``PYTHONPATH``). An error that ends the job is
written with its traceback to the rule's log file as well as to standard error, whether the job runs in
its own process or in a child of a fork server; a damaged output of another rule that it read
(:class:`antithetic.artifacts.UnreadableFileError`) gets the rule that writes it and the fix.

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
    use_checkout(Path(snakemake.scriptdir).resolve().parents[1] / "src")
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
    log_failures(snakemake, log)
    # what the job ended up importing: the end-to-end tests check that table, plot and claim jobs stay cheap
    atexit.register(lambda: log.info("imported: torch=%s diffusers=%s", "torch" in sys.modules, "diffusers" in sys.modules))
    return device, batch_size, log


def use_checkout(src):
    """Import ``antithetic`` from ``src`` (this checkout's): first on ``sys.path``, no copy from elsewhere kept.

    ``src`` goes to the front of ``sys.path`` (ahead of site-packages, where an editable install may point
    to another clone); modules of ``antithetic`` already imported from another place are dropped, so
    that the next import reads this checkout's.
    """
    src = os.path.realpath(src)
    sys.path[:] = [src] + [p for p in sys.path if not p or os.path.realpath(p) != src]
    for name in [n for n in sys.modules if n == "antithetic" or n.startswith("antithetic.")]:
        origin = getattr(sys.modules[name], "__file__", None)
        if origin is None or not os.path.realpath(origin).startswith(src + os.sep):
            del sys.modules[name]


def log_failures(snakemake, log):
    """Log an exception that ends the job, with its traceback, to the rule's log file (and standard error).

    A fork server's child hands its job's exception to ``sys.excepthook`` as an own process does.
    """

    def hook(kind, value, tb):
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, value, tb)
            return
        try:
            name_writer(snakemake, value)
        except Exception:  # the advice is a courtesy: never hide the job's own error behind it
            pass
        log.error("the job failed:", exc_info=(kind, value, tb))
        for handler in logging.getLogger().handlers:
            handler.flush()

    sys.excepthook = hook


def name_writer(snakemake, error):
    """Add the rule that writes a damaged file (an ``UnreadableFileError`` in ``error``'s chain) to its message."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if type(error).__name__ == "UnreadableFileError" and getattr(error, "path", None):
            from antithetic.workflow.plan import Plan

            writer = Plan({}).writer(error.path)  # which rule writes a path needs no config (the job's params are its config)
            if writer:
                rule, output = writer
                error.add_note(f"{output!r} is an output of rule {rule}: delete it (rm -r {output}) and run Snakemake "
                               f"again, which reruns rule {rule} for it")
            return
        error = error.__cause__ or error.__context__
