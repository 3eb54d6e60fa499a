"""The demo's input: a seeded synthetic BIDS-style cohort (only when config has cohort.synthetic)."""

if SYNTHETIC:

    rule synthesize_cohort:
        output:
            participants=COHORT.participants,
            counts=COHORT.counts,
            dots=COHORT.dots,
            repeat_dots=COHORT.repeat_dots,
            scans=[COHORT.scan(s) for s in PLAN.scans],
            label_maps=[COHORT.label_map(s) for s in PLAN.scans],
        log:
            OUT.log("synthesize_cohort"),
        benchmark:
            OUT.benchmark("synthesize_cohort")
        conda:
            ENV
        params:
            spec=config["cohort"]["synthetic"],
            label_maps=config["cohort"]["label_maps"],
        script:
            "../scripts/synthesize_cohort.py"
