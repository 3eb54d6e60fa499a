"""Template space: each crop set's scans registered to the run's template (one job per crop set,
like extraction), and per region and method the cohort's PVS density maps there."""


rule register_to_template:
    input:
        sources=registration_files,
    output:
        transforms=OUT.template_transforms("{crop_set}"),
    log:
        OUT.log("register_to_template", "{crop_set}"),
    benchmark:
        OUT.benchmark("register_to_template", "{crop_set}")
    conda:
        ENV
    threads: TEMPLATE.threads  # fixed by config: the transforms depend on it
    resources:
        mem_mb=4000,  # the benchmark's process peaked at 2.9 GB with five scans of the paper's size in memory
        runtime=60,
    params:
        template=REGISTRATION,
        sources=registration_sources,
    script:
        "../scripts/register_to_template.py"


rule pvs_density:
    input:
        detections=region_shard_tables("detections"),
        scan_counts=region_shard_tables("scan_counts"),
        transforms=[OUT.template_transforms(crop_set) for crop_set in PLAN.crop_sets],
        participants=COHORT.participants,
    output:
        maps=report(
            directory(OUT.pvs_density(region="{region}", method="{method}")),
            patterns=["{name}.png"],
            caption="../report/density.rst",
            category="PVS density",
            labels={"region": "{region}", "method": "{method}", "map": "{name}"},
        ),
    log:
        OUT.log("pvs_density", "{method}", "{region}"),
    benchmark:
        OUT.benchmark("pvs_density", "{method}", "{region}")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        template=TEMPLATE_IMAGE,
        density=config["density"],
    script:
        "../scripts/pvs_density.py"
