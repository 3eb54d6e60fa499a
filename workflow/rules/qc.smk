"""Per scan, in its own grid: the chosen methods' PVS maps and the QC image (one job per crop
set); then the cohort's QC page. docs/outputs.md, "Per scan, in the scan's own grid"."""


rule scan_outputs:
    input:
        unpack(scan_output_inputs),
        crops=crop_set_crops,
        transforms=OUT.template_transforms("{crop_set}"),
    output:
        manifest=OUT.scan_outputs("{crop_set}"),
    log:
        OUT.log("scan_outputs", "{crop_set}"),
    benchmark:
        OUT.benchmark("scan_outputs", "{crop_set}")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,  # 522 MiB at a real scan's size (docs/benchmarks.md, "Real-size scans")
        runtime=60,
    params:
        methods=RUN.scan_output_methods,
        crop_shapes={r: list(RUN.region_specs[r].crop_shape) for r in REGION_NAMES},
        splits=crop_set_splits,
        sources=extraction_sources,
        template=TEMPLATE_IMAGE,
    script:
        "../scripts/scan_outputs.py"


rule qc_page:
    input:
        counts=rules.cohort_tables.output.counts_parquet,
        qc=rules.cohort_tables.output.qc,
        networks=OUT.networks_table,
        manifests=[OUT.scan_outputs(crop_set) for crop_set in PLAN.crop_sets],
    output:
        OUT.qc_page,
    log:
        OUT.log("qc_page"),
    benchmark:
        OUT.benchmark("qc_page")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        regions=REGION_NAMES,
        method=RUN.shown_method,
    script:
        "../scripts/qc_page.py"
