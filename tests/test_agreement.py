"""Agreement of predicted with rated counts: ICC(2,1), ICC(3,1) and Bland-Altman, against values
computed by hand and published ones."""

import numpy as np
import pandas as pd
import pytest

from pvsflow.io.settings import EvaluationSettings
from pvsflow.stats.agreement import bland_altman, count_agreement_metrics, intraclass_correlations

# Shrout and Fleiss (1979), Table 2: six targets rated by four judges; their Table 4 gives
# ICC(2,1) = 0.29 and ICC(3,1) = 0.71.
SHROUT_FLEISS = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]])


def test_the_published_example():
    absolute, consistency = intraclass_correlations(SHROUT_FLEISS)
    assert absolute[0] == pytest.approx(0.2898, abs=5e-5)
    assert consistency[0] == pytest.approx(0.7148, abs=5e-5)


def test_two_raters_by_hand():
    """Predicted 1, 3, 5 against rated 2, 2, 6. Target means 1.5, 2.5, 5.5; rater means 3 and
    10/3; grand mean 19/6. Between targets SS = 2 (1.5-19/6)^2 + 2 (2.5-19/6)^2 + 2 (5.5-19/6)^2
    = 52/3, MSR = 26/3; between raters SS = 3 (3-19/6)^2 + 3 (10/3-19/6)^2 = 1/6, MSC = 1/6;
    total SS = 1 + 9 + 25 + 4 + 4 + 36 - 6 (19/6)^2 = 79 - 361/6 = 113/6, so the residual SS is
    113/6 - 52/3 - 1/6 = 4/3 and MSE = 2/3. ICC(3,1) = (26/3 - 2/3) / (26/3 + 2/3) = 6/7;
    ICC(2,1) = 8 / (28/3 + 2 (1/6 - 2/3) / 3) = 8 / 9."""
    absolute, consistency = intraclass_correlations(np.array([[1, 2], [3, 2], [5, 6]]))
    assert consistency[0] == pytest.approx(6 / 7)
    assert absolute[0] == pytest.approx(8 / 9)


def test_a_constant_offset_is_consistent_but_not_in_agreement():
    rated = np.array([0.0, 1, 2, 4, 7, 3])
    absolute, consistency = intraclass_correlations(np.stack([rated + 2, rated], axis=1))
    assert consistency[0] == pytest.approx(1.0)
    assert absolute[0] < 0.8


def test_a_weighted_resample_is_the_table_with_repeated_targets():
    weights = np.array([[2, 0, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1], [0, 3, 0, 1, 2, 0]])
    absolute, consistency = intraclass_correlations(SHROUT_FLEISS, weights)
    for run, counts in enumerate(weights):
        repeated = np.repeat(SHROUT_FLEISS, counts, axis=0)
        expected = intraclass_correlations(repeated)
        assert (absolute[run], consistency[run]) == pytest.approx((expected[0][0], expected[1][0]))


def test_bland_altman_bias_and_limits():
    bias, low, high = bland_altman([3, 5, 4, 8], [2, 2, 4, 5])  # differences 1, 3, 0, 3: sd sqrt(2.25)
    assert bias == 1.75
    assert (low, high) == pytest.approx((1.75 - 1.96 * 1.5, 1.75 + 1.96 * 1.5))


def test_count_agreement_of_a_region_with_bootstrap_intervals():
    rng = np.random.default_rng(0)
    rated = rng.poisson(4, 40).astype(float)
    per_scan = pd.DataFrame({"predicted_count": rated + rng.normal(0.5, 1.0, 40), "true_count": rated})
    per_scan.loc[3, "true_count"] = np.nan  # not rated: left out
    metrics = count_agreement_metrics([per_scan], EvaluationSettings(bootstrap_runs=200))
    kept = per_scan.dropna()
    absolute, consistency = intraclass_correlations(kept.to_numpy())
    assert metrics["icc_agreement"] == pytest.approx(absolute[0])
    assert metrics["icc_consistency"] == pytest.approx(consistency[0])
    assert metrics["icc_agreement_ci_low"] < metrics["icc_agreement"] < metrics["icc_agreement_ci_high"]
    assert metrics["icc_agreement"] < metrics["icc_consistency"]  # a bias of about half a PVS
    assert metrics["bland_altman_bias"] == pytest.approx((kept["predicted_count"] - kept["true_count"]).mean())
    flat = per_scan.assign(true_count=1.0)
    assert np.isnan(count_agreement_metrics([flat], EvaluationSettings())["icc_agreement"])
