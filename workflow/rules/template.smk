"""Template space: each crop set's scans registered to the run's template (one job per crop set,
like extraction), and per region and method the cohort's PVS density maps there; PVS across
sessions: consecutive sessions registered rigidly (one job per set of pairs), and per region and
method their PVS matched."""


rule register_to_template:
    input:
        sources=registration_files,
        template_image=TEMPLATE_FILES,
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
        template_image=TEMPLATE_FILES,
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


rule register_sessions:
    input:
        sources=session_files,
    output:
        transforms=OUT.session_transforms("{pair_set}"),
    log:
        OUT.log("register_sessions", "{pair_set}"),
    benchmark:
        OUT.benchmark("register_sessions", "{pair_set}")
    conda:
        ENV
    threads: TEMPLATE.threads  # fixed by config: the transforms depend on it
    resources:
        mem_mb=4000,  # two scans at a time
        runtime=60,
    params:
        template=REGISTRATION,
        pairs=lambda wildcards: PAIR_SETS[wildcards.pair_set],
        sources=session_sources,
    script:
        "../scripts/register_sessions.py"


rule session_changes:
    input:
        detections=region_shard_tables("detections"),
        scan_counts=region_shard_tables("scan_counts"),
        transforms=[OUT.session_transforms(pair_set) for pair_set in PAIR_SETS],
    output:
        changes=OUT.session_changes(
            region="{region}", method="{method}", name="changes.parquet"
        ),
        changes_tsv=OUT.session_changes(
            region="{region}", method="{method}", name="changes.tsv"
        ),
        links=OUT.session_changes(
            region="{region}", method="{method}", name="pvs_links.parquet"
        ),
    log:
        OUT.log("session_changes", "{method}", "{region}"),
    benchmark:
        OUT.benchmark("session_changes", "{method}", "{region}")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        longitudinal=config["longitudinal"],
    script:
        "../scripts/session_changes.py"
