import numpy as np

import pytest

from recordio import metrics as M
from recordio.schema import COURSE21


def test_nme_hand_computed():
    gt = np.zeros((1, 21, 2))
    gt[0, 6] = [0, 0]
    gt[0, 9] = [50, 0]  # inter-ocular distance 50
    pred = gt.copy()
    pred[0, :, 0] += 3.0
    pred[0, :, 1] += 4.0  # every point 5 px off
    np.testing.assert_allclose(M.nme(pred, gt, COURSE21), [0.1])
    np.testing.assert_allclose(M.nme(pred, gt, "course21"), [0.1])


def test_failure_rate_and_auc_hand_computed():
    nmes = np.array([0.0, 0.05, 0.1, 0.2])
    assert M.failure_rate(nmes) == 0.25  # only 0.2 is above 0.1
    np.testing.assert_allclose(M.auc(nmes), (1 + 0.5 + 0 + 0) / 4)


def test_landmark_report_per_attribute():
    nmes = np.array([0.02, 0.2, 0.04])
    attrs = np.zeros((3, 6))
    attrs[1, 0] = 1
    rep = M.landmark_report(nmes, attrs)
    assert rep["pose"]["count"] == 1 and rep["pose"]["fr"] == 1.0
    assert "blur" not in rep
    np.testing.assert_allclose(rep["nme_median"], 0.04)


def test_angular_error_hand_computed():
    a = np.array([[0, 0, -1.0], [1, 0, 0]])
    b = np.array([[0, 0, -2.0], [0, 1, 0]])
    np.testing.assert_allclose(M.angular_errors(a, b), [0.0, 90.0], atol=1e-6)
    rep = M.angular_report([1.0, 2.0, 9.0])
    assert rep["mean"] == 4.0 and rep["median"] == 2.0


def test_classification_report_separates_positives_and_negatives():
    rep = M.classification_report([1, 1, 0, 1], [1, 1, 0, 0])
    assert rep["accuracy"] == 0.75 and rep["positives"] == 1.0 and rep["negatives"] == 0.5


def test_box_nme_hand_computed():
    gt = np.zeros((1, 2, 2))
    pred = np.array([[[3.0, 4.0], [0.0, 0.0]]])  # errors 5 and 0: mean 2.5
    np.testing.assert_allclose(M.box_nme(pred, gt, [[0, 0, 10, 40]]), [2.5 / 20.0])


def test_unanswered_faces_fail_count_in_fr_and_auc_but_not_in_the_mean():
    rep = M.landmark_report([0.02, 0.04, M.UNANSWERED])
    assert rep["unanswered"] == 1 and rep["fr"] == 1 / 3
    np.testing.assert_allclose(rep["nme"], 0.03)
    np.testing.assert_allclose(rep["auc"], (0.8 + 0.6 + 0.0) / 3)


def test_breakdown_bins_faces_by_yaw_roll_and_box_width():
    nmes = np.array([0.02, 0.05, 0.3, 0.04])
    euler = np.array([[0, 10, 0], [0, -45, 40], [0, 80, 0], [0, -5, -35]])
    boxes = np.array([[0, 0, 30, 30], [0, 0, 50, 50], [0, 0, 100, 100], [0, 0, 200, 200]])
    out = M.landmark_breakdown(nmes, euler, boxes, box_nmes=np.array([0.01, 0.02, 0.2, 0.03]))
    assert {k: v["count"] for k, v in out["pose"].items()} == {"frontal": 2, "half": 1, "profile": 1}
    assert out["pose"]["profile"]["fr"] == 1.0 and out["pose"]["frontal"]["nme"] == pytest.approx(0.03)
    assert {k: v["count"] for k, v in out["roll"].items()} == {"upright": 2, "rolled": 2}
    assert list(out["size"]) == ["<40px", "40-80px", "80-160px", ">=160px"]
    assert out["roll"]["rolled"]["box_nme"] == pytest.approx(0.025)
