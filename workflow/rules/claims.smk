# The reviewer's ledger (config/claims.yaml): one job per claim reads the outputs its measure needs
# and decides its verdict; `snakemake claim_<id>` runs only the part of the DAG that claim needs.
# Rule `claims` assembles results/claims.{csv,md,tex,json}; rule `forest_figure` draws the forest plot from its JSON.

for _claim in CLAIMS:

    rule:
        name:
            f"claim_{_claim['id']}"
        input:
            input_files(CLAIM_TARGETS[_claim["id"]]),
        output:
            fill(paths.CLAIM, id=_claim["id"]),
        log:
            f"logs/claims/{_claim['id']}.log",
        params:
            code=script_code("claim.py"),
            claim=_claim,
            targets=CLAIM_TARGETS[_claim["id"]],
        localrule: True
        conda:
            "../../envs/antithetic.yaml"
        script:
            "../scripts/claim.py"


rule claims:
    input:
        rows=[fill(paths.CLAIM, id=c["id"]) for c in CLAIMS],
    output:
        csv=ledger("csv"),
        markdown=report(ledger("md"), category="0. Claims of the paper", labels={"table": "claims ledger"}),
        latex=ledger("tex"),
        json=ledger("json"),
    log:
        "logs/claims.log",
    params:
        code=script_code("claims_table.py"),
    localrule: True
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/claims_table.py"


rule forest_figure:
    input:
        ledger=ledger("json"),
    output:
        figure=report(
            paths.FOREST,
            caption="../report/claims_forest.rst",
            category="0. Claims of the paper",
            labels={"figure": "measured vs paper"},
        ),
    log:
        "logs/forest_figure.log",
    params:
        code=script_code("forest_figure.py"),
    localrule: True
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/forest_figure.py"


TARGETS["claims"] = [*rules.claims.output, paths.FOREST]


rule readme_results:
    input:
        unpack(readme_tables),
    output:
        paths.README_RESULTS,
    log:
        "logs/readme_results.log",
    params:
        code=script_code("readme_results.py"),
    localrule: True
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/readme_results.py"


if CORRELATION_RUNS:
    TARGETS["readme"] = rules.readme_results.output
