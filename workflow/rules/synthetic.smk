"""The demo's input: a seeded synthetic BIDS-style cohort (only when config has cohort.synthetic)."""

if SYNTHETIC:

    rule synthesize_cohort:
        output:
            participants=BIDS / "participants.tsv",
            counts=pvs_cohort.counts_path(BIDS),
            dots=pvs_cohort.dots_path(BIDS),
            repeat_dots=pvs_cohort.repeat_dots_path(BIDS),
            scans=[pvs_cohort.scan_path(BIDS, s) for s in SUBJECTS],
            label_maps=[pvs_cohort.label_map_path(BIDS, s) for s in SUBJECTS],
        log:
            RESULTS / "logs" / "synthesize_cohort.log",
        benchmark:
            RESULTS / "benchmarks" / "synthesize_cohort.tsv"
        conda:
            ENV
        params:
            spec=config["cohort"]["synthetic"],
        script:
            "../scripts/synthesize_cohort.py"
