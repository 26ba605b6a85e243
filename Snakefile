# Antithetic noise in diffusion models: regenerate the paper's tables and figures from noise seeds.
#
#   snakemake --cores all                      # default experiment set (offline, CPU)
#   snakemake --cores all --configfile cfg.yaml  # another experiment set
#
# Execution settings (threads, device, batch size) come from a profile: --profile profiles/default.

from snakemake.utils import min_version, validate

min_version("8.0")


configfile: "config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/sampling.smk"
include: "workflow/rules/correlation.smk"
include: "workflow/rules/plots.smk"
include: "workflow/rules/pretrained.smk"
include: "workflow/rules/symmetry.smk"
include: "workflow/rules/uq.smk"
include: "workflow/rules/eta_sweep.smk"
include: "workflow/rules/classifier.smk"
include: "workflow/rules/quality.smk"
include: "workflow/rules/diversity.smk"
include: "workflow/rules/inverse.smk"
include: "workflow/rules/editing.smk"
include: "workflow/rules/flowedit.smk"
include: "workflow/rules/claims.smk"


report: "workflow/report/workflow.rst"


onstart:
    start_fork_servers()


onsuccess:
    stop_fork_servers()


onerror:
    stop_fork_servers()


rule all:
    input:
        all_targets(),
    default_target: True
