"""Whether a network learnt: judged on its validation scans against the plateau of predicting the
training mean, the spread of its predictions and its best epoch."""

import math

import numpy as np
import pandas as pd
import pytest

from pvsflow.io.settings import TrainingCheckSettings
from pvsflow.nets.training_check import (
    NETWORK_COLUMNS,
    TrainingVerdict,
    constant_outputs,
    judge_training,
    network_messages,
    plateau_loss,
)

CHECK = TrainingCheckSettings()
TRAIN = [0.0, 2.0, 4.0, 6.0]  # mean 3
VALIDATION = [1.0, 3.0, 5.0, 8.0]


def judged(predictions, *, best_epoch=7, objective="regression", loss=None):
    """The verdict on a network whose best validation loss is its ``predictions``' MSE (or ``loss``)."""
    if loss is None:
        loss = float(np.mean((np.asarray(predictions) - np.asarray(VALIDATION)) ** 2))
    return judge_training(
        best_validation_loss=loss,
        best_epoch=best_epoch,
        epochs_run=12,
        train_counts=TRAIN,
        validation_counts=VALIDATION,
        validation_predictions=predictions,
        objective=objective,
        settings=CHECK,
    )


def test_the_regression_plateau_is_the_mse_of_the_training_mean_in_count_units():
    assert plateau_loss(TRAIN, VALIDATION, "regression") == pytest.approx((4 + 0 + 4 + 25) / 4)


def test_the_classification_plateau_is_the_bce_of_the_training_presence_rate():
    rate = 3 / 4  # three of the four training scans have PVS
    expected = -(3 * math.log(rate) + math.log(1 - rate)) / 4  # validation: three present, one absent
    assert plateau_loss(TRAIN, [0.0, 1.0, 2.0, 3.0], "classification") == pytest.approx(expected)


def test_a_constant_predictor_at_the_training_mean_did_not_learn():
    verdict = judged([3.0] * 4)
    assert not verdict.learnt
    assert verdict.loss_ratio == pytest.approx(1.0) and verdict.prediction_spread == 0.0
    assert any("plateau" in reason for reason in verdict.reasons)
    assert any("nearly constant" in reason for reason in verdict.reasons)


def test_a_predictor_close_to_the_rated_counts_learnt():
    verdict = judged([1.2, 2.9, 5.3, 7.6])
    assert verdict.learnt and verdict.reasons == ()
    assert verdict.loss_ratio < 0.05 and verdict.prediction_spread == pytest.approx(0.95, abs=0.05)
    assert "best epoch 7 of 12" in verdict.summary()


def test_a_best_epoch_of_one_is_flagged_even_with_good_predictions():
    verdict = judged([1.2, 2.9, 5.3, 7.6], best_epoch=1)
    assert not verdict.learnt
    assert verdict.reasons == ("best epoch is the first of 12: no epoch improved on it",)


def test_a_loss_just_below_the_plateau_is_not_learnt():
    plateau = plateau_loss(TRAIN, VALIDATION, "regression")
    assert not judged([1.2, 2.9, 5.3, 7.6], loss=0.6 * plateau).learnt
    assert judged([1.2, 2.9, 5.3, 7.6], loss=0.4 * plateau).learnt


def test_the_verdict_round_trips_through_a_card_and_an_old_card_is_not_judged():
    verdict = judged([3.0] * 4)
    assert TrainingVerdict.from_card(verdict.as_card()) == verdict
    assert TrainingVerdict.from_card(None) is None


def test_messages_name_the_network_its_methods_and_what_to_do():
    networks = pd.DataFrame(
        [
            {"region": "basal_ganglia", "architecture": "base", "methods": "grad,grad_cam", "verdict": "not learnt"}
            | {"reasons": "best epoch is the first of 1: no epoch improved on it"},
            {"region": "midbrain", "architecture": "gp_unet", "methods": "gp_unet", "verdict": "learnt", "reasons": ""},
        ],
        columns=NETWORK_COLUMNS,
    )
    (message,) = network_messages(networks)
    assert message.startswith("the base network of basal_ganglia did not learn (best epoch is the first of 1")
    assert "the outputs of grad, grad_cam are flagged" in message
    assert "training.max_epochs" in message and "training.recipe: fast" in message


def test_constant_outputs_are_those_of_two_or_more_scans_within_the_tolerance():
    assert constant_outputs([4.12345, 4.12346, 4.12345], 1e-3)
    assert not constant_outputs([4.1, 4.3], 1e-3)
    assert not constant_outputs([4.1], 1e-3)
