"""The paper-style tables: rows regions, columns methods, intervals, best in bold."""

import pandas as pd

from pvsflow.reports import paper_tables_html, paper_tables_markdown


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
