"""Hungarian matching at the 6-voxel rule, FROC, FAUC and the bootstrap."""

import numpy as np
import pytest

from pvsflow.evaluation import (FAUC_MAX_FP_BRAIN, MATCH_DISTANCE_VOXELS, EvaluationSettings, ScanResult, ScanTable,
                                bootstrap_rows, compare_methods, cumulative_hits, froc_area, hungarian_match,
                                intra_rater_agreement, paired_bootstrap_fauc, summarise, wilcoxon_p)


def test_paper_constants():
    assert MATCH_DISTANCE_VOXELS == 6
    assert FAUC_MAX_FP_BRAIN == 15


def test_hungarian_counts_a_hit_at_six_voxels_but_not_beyond():
    annotations = np.array([[0, 0, 0]])
    assert len(hungarian_match(np.array([[6, 0, 0]]), annotations)) == 1
    assert len(hungarian_match(np.array([[6.01, 0, 0]]), annotations)) == 0
    assert len(hungarian_match(np.array([[4, 4, 3]]), annotations)) == 0  # sqrt(41) > 6


def test_hungarian_is_one_to_one_and_maximises_hits():
    # Greedy nearest matching would give detection 0 to annotation 1 and leave annotation 0 unmatched.
    detections = np.array([[3.0, 0, 0], [9.5, 0, 0]])
    annotations = np.array([[-2.0, 0, 0], [4.0, 0, 0]])
    pairs = hungarian_match(detections, annotations)
    assert sorted((d, a) for d, a, _ in pairs) == [(0, 0), (1, 1)]


def test_cumulative_hits_equals_hungarian_at_every_k():
    rng = np.random.default_rng(1)
    for _ in range(30):
        detections = rng.uniform(0, 20, size=(rng.integers(0, 12), 3))
        annotations = rng.uniform(0, 20, size=(rng.integers(0, 8), 3))
        hits = cumulative_hits(detections, annotations)
        assert len(hits) == len(detections) + 1
        for k in range(len(detections) + 1):
            assert hits[k] == len(hungarian_match(detections[:k], annotations))


def test_froc_and_fauc_of_a_hand_computed_case():
    # Two scans, 4 lesions. Scan A: hits at ranks 1 and 3; scan B: hit at rank 2, one candidate more.
    table = ScanTable([ScanResult(np.array([0, 1, 1, 2]), 2, 1), ScanResult(np.array([0, 0, 1, 1]), 2, 3)])
    fp_avg, sensitivity = table.froc()
    # k=1: A 1 TP, B 1 FP; k=2: A 1 TP 1 FP, B 1 TP 1 FP; k=3: A 2 TP 1 FP, B 1 TP 2 FP.
    assert fp_avg.tolist() == [0.0, 0.5, 1.0, 1.5]
    assert sensitivity.tolist() == [0.0, 0.25, 0.5, 0.75]
    # Trapezoids (0,0)-(0.5,.25)-(1,.5)-(1.5,.75), then flat at .75 up to FPavg 2:
    # 0.0625 + 0.1875 + 0.3125 + 0.375 = 0.9375 -> normalised by 2: 46.875.
    assert froc_area(fp_avg, sensitivity, max_fp=2.0) == pytest.approx(46.875)
    # Operating point: A keeps 1 (1 TP), B keeps 3 (1 TP, 2 FP).
    op = table.operating_point()
    assert op == {"sensitivity": pytest.approx(0.5), "fp_avg": pytest.approx(1.0), "fn_avg": pytest.approx(1.0)}


def test_fauc_truncates_the_curve_at_max_fp():
    fp_avg = np.array([0.0, 10.0, 20.0])
    sensitivity = np.array([0.0, 1.0, 1.0])
    # Linear to (10, 1), flat to 15: (5 + 5) / 15 * 100.
    assert froc_area(fp_avg, sensitivity, 15.0) == pytest.approx(200 / 3)


def test_perfect_detector_has_fauc_100():
    table = ScanTable([ScanResult(np.array([0, 1, 2]), 2, 2)])
    assert table.fauc(15.0) == pytest.approx(100.0)


def test_bootstrap_is_deterministic_and_brackets_the_estimate():
    rng = np.random.default_rng(0)
    scans = []
    for _ in range(20):
        hits = np.concatenate([[0], np.cumsum(rng.random(10) < 0.4)])
        scans.append(ScanResult(hits, int(hits[-1]) + 1, 3))
    settings = EvaluationSettings(bootstrap_runs=200, seed=3)
    first = summarise([ScanTable(scans)], settings)
    assert first == summarise([ScanTable(scans)], settings)
    assert first["fauc_ci_low"] <= first["fauc"] <= first["fauc_ci_high"]
    assert first["fauc_ci_low"] < first["fauc_ci_high"]
    assert bootstrap_rows(5, 3, 0).shape == (3, 5)


def scans_with_hits(rng, n_scans, hit_rate):
    """Scans with 3 lesions and 6 candidates; each candidate is a hit with ``hit_rate``."""
    results = []
    for _ in range(n_scans):
        hits = np.minimum(np.cumsum(np.r_[0, rng.random(6) < hit_rate]), 3)
        results.append(ScanResult(hits, 3, 3))
    return ScanTable(results)


def test_paired_bootstrap_finds_a_real_difference_and_none_between_equals():
    rng = np.random.default_rng(0)
    good, poor = scans_with_hits(rng, 40, 0.8), scans_with_hits(rng, 40, 0.2)
    settings = EvaluationSettings(bootstrap_runs=300, fauc_max_fp=3)
    better = paired_bootstrap_fauc(good, poor, settings)
    assert better["fauc_difference"] > 0 and better["fauc_difference_ci_low"] > 0
    assert better["p_fauc"] < 0.01
    same = paired_bootstrap_fauc(good, good, settings)
    assert same["fauc_difference"] == 0 and same["p_fauc"] == 1.0


def test_wilcoxon_p_is_scipys_and_one_for_identical_samples():
    from scipy.stats import wilcoxon
    a = np.array([1.0, 2.0, 0.0, 4.0, 3.0, 5.0, np.nan])
    b = np.array([0.0, 1.0, 0.5, 1.0, 1.0, 2.0, 1.0])
    assert wilcoxon_p(a, b) == pytest.approx(wilcoxon(a[:6], b[:6]).pvalue)
    assert wilcoxon_p(a, a) == 1.0


def test_compare_methods_lists_every_pair_once():
    rng = np.random.default_rng(1)
    tables = {m: scans_with_hits(rng, 10, p) for m, p in [("a", 0.9), ("b", 0.5), ("c", 0.1)]}
    pairs = compare_methods(tables, EvaluationSettings(bootstrap_runs=20))
    assert list(zip(pairs["method"], pairs["other_method"])) == [("a", "b"), ("a", "c"), ("b", "c")]
    assert pairs[["p_fauc", "p_sensitivity", "p_fp_avg", "p_fn_avg"]].notna().all().all()


def test_intra_rater_agreement_by_hand():
    import pandas as pd
    first = pd.DataFrame({"subject": ["s1"] * 3 + ["s2"], "x": [0, 20, 40, 5], "y": 0, "z": 0})
    second = pd.DataFrame({"subject": ["s1", "s1", "s2"], "x": [1, 60, 5], "y": [1, 0, 0], "z": 0})
    agreement = intra_rater_agreement(first, second, ["s1", "s2"], 6.0).set_index("reference")
    # first as reference: 2 of 4 dots found, 1 extra dot in s1.
    assert agreement.loc["first"].to_dict() == pytest.approx({"sensitivity": 0.5, "fp_avg": 0.5, "fn_avg": 1.0})
    assert agreement.loc["second"].to_dict() == pytest.approx({"sensitivity": 2 / 3, "fp_avg": 1.0, "fn_avg": 0.5})
