"""The paper-style tables: rows regions, columns methods, intervals, best in bold."""

import pandas as pd

from pvsflow.nets.training_check import NETWORK_COLUMNS
from pvsflow.report.paper_tables import AGREEMENT_TABLES, paper_tables_html, paper_tables_markdown, summary_markdown


def summary():
    rows = []
    for region, values in {"midbrain": (70.0, 40.0), "overall": (50.0, 60.0)}.items():
        for method, fauc, fp in (("gp_unet", values[0], 1.0), ("intensity", values[1], 0.5)):
            rows.append(
                {
                    "region": region,
                    "method": method,
                    "fauc": fauc,
                    "fauc_ci_low": fauc - 5,
                    "fauc_ci_high": fauc + 5,
                    "sensitivity": 0.5,
                    "sensitivity_ci_low": 0.4,
                    "sensitivity_ci_high": 0.6,
                    "fp_avg": fp,
                    "fp_avg_ci_low": fp,
                    "fp_avg_ci_high": fp,
                    "fn_avg": 1.0,
                    "fn_avg_ci_low": 1.0,
                    "fn_avg_ci_high": 1.0,
                }
            )
    return pd.DataFrame(rows)


def test_markdown_tables_bold_the_best_per_region_and_metric():
    text = paper_tables_markdown(summary(), {"gp_unet": "GP-Unet", "intensity": "Intensity"}, 3)
    fauc, sensitivity, fp, fn = text.split("## ")[1:]
    assert "FAUC (0-3 FP per scan)" in fauc
    assert "| region | GP-Unet | Intensity |" in fauc
    assert "| midbrain | **70.0 [65.0, 75.0]** | 40.0 [35.0, 45.0] |" in fauc
    assert "| overall | 50.0 [45.0, 55.0] | **60.0 [55.0, 65.0]** |" in fauc
    assert "| midbrain | 1.00 [1.00, 1.00] | **0.50 [0.50, 0.50]** |" in fp  # fewer false positives is better
    assert sensitivity.count("**") == 8  # ties: both are best


def test_html_tables_carry_the_same_cells():
    page = paper_tables_html(summary(), {"gp_unet": "GP-Unet"}, 3)
    assert "<th>GP-Unet</th><th>intensity</th>" in page
    assert "<td><b>70.0 [65.0, 75.0]</b></td><td>40.0 [35.0, 45.0]</td>" in page


def test_agreement_tables_show_the_bias_with_its_limits_and_bold_no_best():
    rows = summary().assign(
        icc_agreement=0.8,
        icc_agreement_ci_low=0.7,
        icc_agreement_ci_high=0.9,
        icc_consistency=[0.85, 0.9, 0.85, 0.9],
        icc_consistency_ci_low=0.8,
        icc_consistency_ci_high=0.95,
        bland_altman_bias=[0.5, -0.25, 0.5, -0.25],
        bland_altman_loa_low=-1.5,
        bland_altman_loa_high=2.5,
    )
    text = paper_tables_markdown(rows, {}, 3, tables=AGREEMENT_TABLES)
    agreement, consistency, bias = text.split("## ")[1:]
    assert "ICC(2,1), absolute agreement" in agreement and agreement.count("**0.80 [0.70, 0.90]**") == 4
    assert "| midbrain | 0.85 [0.80, 0.95] | **0.90 [0.80, 0.95]** |" in consistency
    assert "| midbrain | 0.50 [-1.50, 2.50] | -0.25 [-1.50, 2.50] |" in bias and "**" not in bias


def test_the_summary_marks_the_rows_of_networks_that_did_not_learn_and_names_them():
    table = summary().assign(n_scans=6, n_lesions=20, chance_fauc=20.0, count_pearson_r=0.1)
    for name in ("icc_agreement", "bland_altman_bias"):
        table = table.assign(**{name: 0.1, f"{name}_ci_low": 0.0, f"{name}_ci_high": 0.2})
    table = table.assign(bland_altman_loa_low=-1.0, bland_altman_loa_high=1.0)
    networks = pd.DataFrame(
        [
            {"region": "midbrain", "architecture": "base", "methods": "intensity", "verdict": "not learnt"}
            | {"reasons": "best epoch is the first of 1: no epoch improved on it"},
            {"region": "midbrain", "architecture": "gp_unet", "methods": "gp_unet", "verdict": "learnt", "reasons": ""},
        ],
        columns=NETWORK_COLUMNS,
    )
    text = summary_markdown(table, 3, networks)
    assert "| midbrain | intensity (did not learn) | 6 |" in text and "| midbrain | gp_unet | 6 |" in text
    assert "| overall | intensity | 6 |" in text
    assert "- the base network of midbrain did not learn (best epoch is the first of 1" in text
    assert "did not learn" not in summary_markdown(table, 3, networks.assign(verdict="learnt"))
