"""Reports: figures, the paper's tables, the cohort's tables, per-scan maps and QC images, the QC page."""
