# The reviewer's ledger (config/claims.yaml): one job per claim reads the outputs its measure needs
# and decides its verdict; `snakemake claim_<id>` runs only the part of the DAG that claim needs.
# Rule `claims` assembles results/claims.{csv,md,json} and the forest plot.

for _claim in CLAIMS:

    rule:
        name:
            f"claim_{_claim['id']}"
        input:
            input_files(CLAIM_TARGETS[_claim["id"]]),
        output:
            f"results/claims/{_claim['id']}.json",
        log:
            f"logs/claims/{_claim['id']}.log",
        params:
            claim=_claim,
            targets=CLAIM_TARGETS[_claim["id"]],
        localrule: True
        conda:
            "../../envs/antithetic.yaml"
        script:
            "../scripts/claim.py"


rule claims:
    input:
        rows=[f"results/claims/{c['id']}.json" for c in CLAIMS],
    output:
        csv="results/claims.csv",
        markdown=report("results/claims.md", category="0. Claims of the paper", labels={"table": "claims ledger"}),
        latex="results/claims.tex",
        json="results/claims.json",
        figure=report(
            "figures/claims/forest.png",
            caption="../report/claims_forest.rst",
            category="0. Claims of the paper",
            labels={"figure": "measured vs paper"},
        ),
    log:
        "logs/claims.log",
    localrule: True
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/claims_table.py"


TARGETS["claims"] = rules.claims.output


rule readme_results:
    input:
        unpack(readme_tables),
    output:
        "results/README.results.md",
    log:
        "logs/readme_results.log",
    localrule: True
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/readme_results.py"


if CORRELATION_RUNS:
    TARGETS["readme"] = rules.readme_results.output
