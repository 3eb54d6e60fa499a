"""Hungarian matching at the 6-voxel rule, FROC, FAUC and the bootstrap."""

import numpy as np
import pandas as pd
import pytest

from pvsflow.io.layout import crop_file
from pvsflow.io.settings import EvaluationSettings
from pvsflow.io.volumes import save_volume
from pvsflow.io.voxel_order import VoxelOrder
from pvsflow.regions.crops import RegionRecord, ScanCrops, ScanRecord
from pvsflow.report import figures
from pvsflow.stats.comparison import (
    PAIRWISE_COLUMNS,
    RATER_COLUMNS,
    compare_methods,
    intra_rater_agreement,
    paired_bootstrap_fauc,
    wilcoxon_p,
)
from pvsflow.stats.evaluation import (
    PER_SCAN_COLUMNS,
    aligned_tables,
    dots_in_crops,
    overall_rows,
    region_metrics,
    scan_results,
)
from pvsflow.stats.froc import (
    ScanResult,
    ScanTable,
    bootstrap_metrics,
    bootstrap_rows,
    froc_area,
    pooled_froc,
    summarise,
)
from pvsflow.stats.matching import cumulative_hits, hungarian_match

MATCH_DISTANCE_VOXELS = EvaluationSettings().match_distance_voxels


def test_paper_constants():
    assert MATCH_DISTANCE_VOXELS == 6
    assert EvaluationSettings().fauc_max_fp == 15


def test_hungarian_counts_a_hit_at_six_voxels_but_not_beyond():
    annotations = np.array([[0, 0, 0]])
    assert len(hungarian_match(np.array([[6, 0, 0]]), annotations, MATCH_DISTANCE_VOXELS)) == 1
    assert len(hungarian_match(np.array([[6.01, 0, 0]]), annotations, MATCH_DISTANCE_VOXELS)) == 0
    assert len(hungarian_match(np.array([[4, 4, 3]]), annotations, MATCH_DISTANCE_VOXELS)) == 0  # sqrt(41) > 6


def test_hungarian_is_one_to_one_and_maximises_hits():
    # Greedy nearest matching would give detection 0 to annotation 1 and leave annotation 0 unmatched.
    detections = np.array([[3.0, 0, 0], [9.5, 0, 0]])
    annotations = np.array([[-2.0, 0, 0], [4.0, 0, 0]])
    pairs = hungarian_match(detections, annotations, MATCH_DISTANCE_VOXELS)
    assert sorted((d, a) for d, a, _ in pairs) == [(0, 0), (1, 1)]


def test_cumulative_hits_equals_hungarian_at_every_k():
    rng = np.random.default_rng(1)
    for _ in range(30):
        detections = rng.uniform(0, 20, size=(rng.integers(0, 12), 3))
        annotations = rng.uniform(0, 20, size=(rng.integers(0, 8), 3))
        hits = cumulative_hits(detections, annotations, MATCH_DISTANCE_VOXELS)
        assert len(hits) == len(detections) + 1
        for k in range(len(detections) + 1):
            assert hits[k] == len(hungarian_match(detections[:k], annotations, MATCH_DISTANCE_VOXELS))


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


def test_pooled_froc_of_a_hand_computed_case():
    # The scans above, with scores: one threshold lowered over both takes A .9 (hit), B .8, B .7
    # (hit), A .5, A .2 (hit), B .1.
    fp_avg, sensitivity = pooled_froc([[0, 1, 1, 2], [0, 0, 1, 1]], [[0.9, 0.5, 0.2], [0.8, 0.7, 0.1]], 4)
    assert fp_avg.tolist() == [0.0, 0.0, 0.5, 0.5, 1.0, 1.0, 1.5]
    assert sensitivity.tolist() == [0.0, 0.25, 0.25, 0.5, 0.5, 0.75, 0.75]


def test_a_weak_candidate_costs_the_top_k_of_every_scan_but_not_one_threshold():
    hits, scores = [[0, 1], [0, 0]], [[1.0], [0.01]]  # a scan with its lesion found, one with a weak false peak
    top_k = ScanTable([ScanResult(np.array(h), n, 0) for h, n in zip(hits, (1, 0))])
    assert top_k.fauc(1.0) == pytest.approx(75.0)  # (0, 0) to (0.5, 1), then flat
    assert froc_area(*pooled_froc(hits, scores, 1), 1.0) == pytest.approx(100.0)
    with pytest.raises(ValueError, match="descending"):
        pooled_froc([[0, 1, 1]], [[0.1, 0.2]], 1)


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


def reference_froc_area(fp_avg, sensitivity, max_fp):
    """The area as a plain loop would take it: np.interp at max_fp and trapezoids up to it."""
    x = np.concatenate([[0.0], fp_avg, [max(max_fp, float(fp_avg[-1]))]])
    y = np.concatenate([[0.0], sensitivity, [sensitivity[-1]]])
    cut = np.interp(max_fp, x, y)
    inside = x < max_fp
    return float(np.trapezoid(np.r_[y[inside], cut], np.r_[x[inside], max_fp]) / max_fp * 100.0)


def random_scans(rng, n_scans):
    """Scans with 0-80 ranked candidates (a few with almost none) and 0-5 lesions."""
    scans = []
    for i in range(n_scans):
        n_candidates = int(rng.integers(0, 3)) if i % 5 == 0 else int(rng.integers(10, 80))
        lesions = int(rng.integers(0, 6))
        hits = np.minimum(np.cumsum(np.r_[0, rng.random(n_candidates) < 0.2]), lesions)
        scans.append(ScanResult(hits, lesions, int(rng.integers(0, 6))))
    return scans


@pytest.mark.parametrize("max_fp", [0.5, 2.0, 3.0, 15.0])
def test_every_bootstrap_resample_is_the_table_of_its_drawn_scans(max_fp):
    rng = np.random.default_rng(4)
    scans = random_scans(rng, 30)
    settings = EvaluationSettings(bootstrap_runs=12, seed=9, fauc_max_fp=max_fp)
    resampled = bootstrap_metrics([ScanTable(scans)], settings)[0]
    for run, rows in enumerate(bootstrap_rows(len(scans), settings.bootstrap_runs, settings.seed)):
        drawn = ScanTable([scans[i] for i in rows])
        fp_avg, sensitivity = drawn.froc()
        expected = [reference_froc_area(fp_avg, sensitivity, max_fp), *drawn.operating_point().values()]
        np.testing.assert_allclose(resampled[run], expected, rtol=1e-12, atol=1e-12)


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
    assert list(pairs.columns) == list(PAIRWISE_COLUMNS)
    assert list(zip(pairs["method"], pairs["other_method"])) == [("a", "b"), ("a", "c"), ("b", "c")]
    assert pairs[["p_fauc", "p_sensitivity", "p_fp_avg", "p_fn_avg"]].notna().all().all()


def test_intra_rater_agreement_by_hand():
    first = pd.DataFrame({"scan": ["s1"] * 3 + ["s2"], "x": [0, 20, 40, 5], "y": 0, "z": 0})
    second = pd.DataFrame({"scan": ["s1", "s1", "s2"], "x": [1, 60, 5], "y": [1, 0, 0], "z": 0})
    rater = intra_rater_agreement(first, second, scan_ids=["s1", "s2"], max_distance=6.0)
    assert list(rater.columns) == list(RATER_COLUMNS)
    agreement = rater.set_index("reference")
    # first as reference: 2 of 4 dots found, 1 extra dot in s1.
    assert agreement.loc["first"].to_dict() == pytest.approx({"sensitivity": 0.5, "fp_avg": 0.5, "fn_avg": 1.0})
    assert agreement.loc["second"].to_dict() == pytest.approx({"sensitivity": 2 / 3, "fp_avg": 1.0, "fn_avg": 0.5})
    points = figures.rater_points(rater)
    assert list(points) == ["intra-rater (first pass as reference)", "intra-rater (second pass as reference)"]
    assert list(points.values()) == [pytest.approx((0.5, 0.5)), pytest.approx((1.0, 2 / 3))]
    assert figures.rater_points(pd.DataFrame(columns=list(RATER_COLUMNS))) == {}


def test_the_froc_figure_names_each_method_with_its_fauc_and_dots_its_operating_point(monkeypatch):
    drawn = {}
    monkeypatch.setattr(figures, "froc_plot", lambda *args: drawn.update(args=args))
    frocs = {"GP-Unet": pd.DataFrame({"fp_avg": [0.5, 1.0], "sensitivity": [0.4, 0.8]})}
    metrics = {"GP-Unet": pd.Series({"fauc": 71.04, "fp_avg": 0.5, "sensitivity": 0.4})}
    figures.methods_froc_plot("froc.png", frocs, metrics, 5.0, "midbrain", {"rater": (1.0, 0.9)})
    path, curves, max_fp, title, operating, rater = drawn["args"]
    assert list(curves) == ["GP-Unet (71.0)"] and curves["GP-Unet (71.0)"][1].tolist() == [0.4, 0.8]
    assert operating == {"GP-Unet (71.0)": (0.5, 0.4)} and rater == {"rater": (1.0, 0.9)}


def detection_rows(scan, voxels):
    return pd.DataFrame(
        {
            "scan": scan,
            "rank": range(1, len(voxels) + 1),
            **dict(zip(("voxel_x", "voxel_y", "voxel_z"), np.array(voxels).T)),
        }
    )


def test_scan_results_by_hand():
    # sub-a: candidates at 0 (hit), 20 (miss), 3 (its second dot); sub-b failed upstream; sub-c is no test scan.
    detections = pd.concat(
        [detection_rows("sub-a", [[0, 0, 0], [20, 0, 0], [3, 4, 0]]), detection_rows("sub-c", [[0, 0, 0]])]
    )
    scan_counts = pd.DataFrame(
        {
            "scan": ["sub-a", "sub-b", "sub-c"],
            "status": ["ok", "failed", "ok"],
            "predicted_count": [2.4, np.nan, 1.0],
            "n_selected": [2, 0, 1],
        }
    )
    dots = pd.DataFrame({"scan": ["sub-a", "sub-a"], "region": "midbrain", "x": [1, 3], "y": [0, 0], "z": 0})
    counts = pd.DataFrame({"scan": ["sub-a", "sub-b"], "region": "midbrain", "pvs_count": [2.0, 5.0]})
    per_scan = scan_results(
        detections, scan_counts, dots, counts, scan_ids=["sub-a", "sub-b"], max_distance=MATCH_DISTANCE_VOXELS
    )
    assert list(per_scan.columns) == PER_SCAN_COLUMNS and per_scan["scan"].tolist() == ["sub-a"]
    row = per_scan.iloc[0]
    assert row["hits"] == [0, 1, 1, 2] and row["n_lesions"] == 2 and row["n_selected"] == 2
    assert (row["predicted_count"], row["true_count"]) == (2.4, 2.0)
    assert row["matched_distance_voxels"] == pytest.approx(1.0)  # the top two: (0,0,0)-(1,0,0) only


def per_scan_rows(scans, hits, lesions):
    return pd.DataFrame(
        {
            "scan": scans,
            "hits": hits,
            "n_lesions": lesions,
            "n_selected": 1,
            "predicted_count": 1.0,
            "true_count": np.asarray(lesions, float),
            "matched_distance_voxels": 1.0,
        }
    )


def test_aligned_tables_keep_the_scans_every_method_evaluated_in_one_order():
    first = per_scan_rows(["s3", "s1", "s2"], [[0, 1], [0, 0], [0, 1]], [1, 1, 2])
    second = per_scan_rows(["s2", "s3"], [[0, 0], [0, 1]], [2, 1])
    tables = aligned_tables({"first": first, "second": second})
    assert [len(t) for t in tables.values()] == [2, 2]
    assert tables["first"].lesions.tolist() == [2, 1] and tables["second"].lesions.tolist() == [2, 1]  # s2, s3
    assert tables["first"].tp[:, 1].tolist() == [1, 1] and tables["second"].tp[:, 1].tolist() == [0, 1]


def test_region_metrics_and_the_overall_rows():
    settings = EvaluationSettings(fauc_max_fp=1, bootstrap_runs=20)
    per_scan = {
        ("midbrain", "m"): per_scan_rows(["s1", "s2"], [[0, 1], [0, 0]], [1, 1]),
        ("hippocampi", "m"): per_scan_rows(["s1", "s2", "s3"], [[0, 1], [0, 1], [0, 1]], [1, 2, 1]),
    }
    metrics = pd.DataFrame(
        [
            region_metrics(table, region=region, method=method, n_failed=failed, chance=chance, settings=settings)
            for ((region, method), table), failed, chance in zip(per_scan.items(), (1, 0), (4, 8))
        ]
    )
    assert metrics["n_lesions"].tolist() == [2, 4] and metrics["chance_fauc"].tolist() == [4, 8]
    # midbrain: 1 of 2 lesions at k = 1 with 0.5 FP per scan -> FROC (0.5, 0.5), flat to 1: FAUC 37.5.
    assert metrics.loc[0, "fauc"] == pytest.approx(37.5)
    overall = overall_rows(metrics, per_scan, settings).iloc[0]
    assert (overall["region"], overall["method"], overall["n_scans"]) == ("overall", "m", 2)  # s1, s2 in both
    assert (overall["n_failed"], overall["n_lesions"], overall["chance_fauc"]) == (1, 6, 6.0)
    both = [
        ScanTable([ScanResult(np.asarray(h), n, 1) for h, n in hits])
        for hits in ([([0, 1], 1), ([0, 0], 1)], [([0, 1], 1), ([0, 1], 2)])
    ]
    assert overall["fauc"] == pytest.approx(np.mean([t.fauc(1) for t in both]))
    assert overall["fauc_ci_low"] <= overall["fauc"] <= overall["fauc_ci_high"]


def test_dots_outside_their_crop_are_left_out_with_their_line(tmp_path):
    """A dot outside its scan's region crop (the crop box is [origin, origin + shape)) can never be
    found: it is left out with a problem naming the dots file's line; a failed region's dots stay.
    Dots are stored voxels (here LAS: stored x = 39 - canonical x), crops canonical."""
    crop = RegionRecord("ok", origin=(10, 20, 5), affine=tuple(map(tuple, np.eye(4))))
    ScanCrops(tmp_path / "sub-01").write_record(
        ScanRecord("sub-01", {"midbrain": crop}, VoxelOrder("LAS", (40, 40, 20)))
    )
    ScanCrops(tmp_path / "sub-02").write_record(
        ScanRecord("sub-02", {"midbrain": RegionRecord.failed("sub-02: unreadable")})
    )
    save_volume(crop_file(tmp_path / "sub-01", "midbrain"), np.zeros((8, 6, 4), np.float32), np.eye(4))
    # Canonical (10, 20, 5) and (17, 25, 8) are the box's corners; (18, 25, 8) and (9, 21, 6) are outside.
    dots = pd.DataFrame(
        [("sub-01", 29, 20, 5, 2), ("sub-01", 22, 25, 8, 3), ("sub-01", 21, 25, 8, 4), ("sub-01", 30, 21, 6, 5)]
        + [("sub-02", 0, 0, 0, 6)],
        columns=["scan", "x", "y", "z", "line"],
    )
    kept, problems = dots_in_crops(
        dots, [ScanCrops(tmp_path / "sub-01"), ScanCrops(tmp_path / "sub-02")], "midbrain", source="d/dots.tsv"
    )
    assert kept["line"].tolist() == [2, 3, 6]
    assert [str(p) for p in problems] == [
        "dots.tsv line 4: sub-01 dot (21, 25, 8) lies outside the midbrain crop; left out",
        "dots.tsv line 5: sub-01 dot (30, 21, 6) lies outside the midbrain crop; left out",
    ]
