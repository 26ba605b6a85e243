"""The workflow application: the Snakemake workflow's side of the project, built on the library.

The library (:mod:`antithetic` without this package) holds the science: noise designs, samplers, the
generation loop, estimators, probes, metrics and models; it knows no config key and no output path.
This package turns a config into work: :mod:`.config` (checks that name the config key and the fix),
:mod:`.plan` (the one place where the config becomes runs and output paths), :mod:`.jobs` (one function
per rule: load, call the library, write with provenance), :mod:`.claims` (the reviewer's ledger),
:mod:`.plotting` and :mod:`.tables`, :mod:`.readme` (the README's generated blocks), :mod:`.code`
(the code digests that rerun a job when the library code it imports changes), :mod:`.bench` and
:mod:`.forkserver`. It imports the library; the library never imports it.
"""
