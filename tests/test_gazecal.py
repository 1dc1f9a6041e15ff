"""Per-person gaze calibration and the screen point: the fit recovers a known correction, the screen's
geometry and conventions, and calibrate_gaze.py reads results and targets as users write them."""
import json

import numpy as np
import pytest

from deploy.gazecal import Calibration, Screen, angles_of, angular_error, vector_of


def test_a_few_targets_fit_an_offset_and_many_an_affine_map():
    rng = np.random.default_rng(0)
    truth = rng.uniform(-20, 20, (3, 2))
    cal = Calibration.fit(truth - [2.5, -1.5], truth)  # a model 2.5 deg low and 1.5 deg to the left
    assert cal.kind == "offset"
    np.testing.assert_allclose(cal.matrix[:, 2], [2.5, -1.5])
    assert cal.error_before > 2.0 and cal.error_after < 1e-6
    truth = rng.uniform(-25, 25, (30, 2))
    M = np.array([[0.9, 0.05, 1.0], [-0.03, 1.1, -2.0]])
    predicted = (truth - M[:, 2]) @ np.linalg.inv(M[:, :2]).T + rng.normal(0, 0.2, truth.shape)
    cal = Calibration.fit(predicted, truth)
    assert cal.kind == "affine"
    np.testing.assert_allclose(cal.matrix, M, atol=0.05)
    assert cal.error_after < 0.5 < 2.0 < cal.error_before


def test_a_calibration_corrects_answers_and_survives_its_file(tmp_path):
    cal = Calibration([[1, 0, 3.0], [0, 1, -2.0]], samples=4)
    answer = {"vector": vector_of([5.0, 10.0]).round(5).tolist(), "pitch": 5.0, "yaw": 10.0}
    cal.apply(answer)
    assert (answer["pitch"], answer["yaw"]) == pytest.approx((8.0, 8.0), abs=0.01)
    np.testing.assert_allclose(angles_of(answer["vector"]), [8.0, 8.0], atol=0.01)
    np.testing.assert_allclose(angles_of(answer["uncalibrated"]), [5.0, 10.0], atol=0.01)
    cal.save(str(tmp_path / "c.json"))
    np.testing.assert_allclose(Calibration.load(str(tmp_path / "c.json")).matrix, cal.matrix)
    (tmp_path / "bad.json").write_text('{"matrix": [[1, 0], [0, 1]]}')
    with pytest.raises(SystemExit, match="bad.json"):
        Calibration.load(str(tmp_path / "bad.json"))


def test_the_screen_point_of_a_gaze_and_its_conventions(tmp_path):
    screen = Screen(600.0, 340.0, 1920, 1080, camera_above_mm=10.0)
    origin = np.array([30.0, 120.0, 550.0])  # a face below the camera and a little to the image's right
    for px in ([960.0, 540.0], [100.0, 900.0], [1800.0, 50.0]):
        hit = screen.look(origin, vector_of(screen.target_angles(origin, px)))
        np.testing.assert_allclose(hit["px"], px, atol=0.1)
        assert hit["on_screen"]
    straight = screen.look([0.0, 0.0, 600.0], [0.0, 0.0, -1.0])  # into the lens: above the screen's top edge
    assert straight["mm"] == pytest.approx([300.0, -10.0]) and not straight["on_screen"]
    right = screen.look(origin, vector_of([-15.0, 10.0]))  # yaw > 0 is the person's right: the screen's right
    left = screen.look(origin, vector_of([-15.0, -10.0]))
    assert right["px"][0] > left["px"][0]
    assert screen.look(origin, [0.0, 0.0, 1.0]) is None  # looking away from the screen
    (tmp_path / "s.json").write_text(json.dumps({"width_mm": 600, "height_mm": 340, "width_px": 1920}))
    with pytest.raises(SystemExit, match="height_px"):
        Screen.load(str(tmp_path / "s.json"))


def test_calibrate_gaze_fits_from_results_and_names_the_lines_it_leaves_out(tmp_path, capsys):
    from deploy import calibrate_gaze
    screen = Screen(600.0, 340.0, 1920, 1080)
    (tmp_path / "screen.json").write_text(json.dumps({"width_mm": 600, "height_mm": 340, "width_px": 1920,
                                                      "height_px": 1080}))
    rng = np.random.default_rng(3)
    results, targets = [], ["# video frame x y"]
    for frame in range(8):
        origin = [rng.uniform(-50, 50), rng.uniform(80, 150), rng.uniform(450, 700)]
        px = rng.uniform([0, 0], [1920, 1080])
        seen = screen.target_angles(origin, px) + [-3.0, 2.0]  # this person: 3 deg low, 2 deg to the right
        face = {"source": "/videos/calib.mp4", "frame": frame, "box": [100, 100, 200, 200],
                "gaze": {"vector": vector_of(seen).tolist(), "origin_mm": origin}}
        small = dict(face, box=[0, 0, 20, 20], gaze={"vector": [0, 0, -1.0], "origin_mm": origin})
        results += [face, small]  # the person is the larger face
        targets.append("calib.mp4 %d %.2f %.2f" % (frame, px[0], px[1]))
    targets += ["calib.mp4 99 10 10", "calib.mp4 3 ten 10", "calib.mp4 3 10"]
    (tmp_path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in results))
    (tmp_path / "targets.txt").write_text("\n".join(targets) + "\n")
    cal = calibrate_gaze.main([str(tmp_path / "results.jsonl"), str(tmp_path / "targets.txt"), "--out",
                               str(tmp_path / "me.json"), "--screen", str(tmp_path / "screen.json")])
    err = capsys.readouterr().err
    for line, reason in ((10, "frame 99"), (11, "not a number"), (12, "expected 4 tokens")):
        assert "targets.txt:%d: " % line in err and reason in err
    assert cal.samples == 8 and cal.error_after < 0.3 < 3.0 < cal.error_before
    probe = np.array([[-10.0, 5.0]])
    assert float(angular_error(Calibration.load(str(tmp_path / "me.json"))(probe + [-3.0, 2.0]), probe)[0]) < 0.3


def test_five_targets_fit_an_offset_six_an_affine_map_and_leave_one_out_refits_the_saved_kind():
    """At the boundary: 5 targets fit an offset, 6 an affine map; the leave-one-out error of a 6-target fit
    comes from affine fits of 5 (the kind that is saved), which an exactly affine person reproduces, while
    offset fits of 5 would leave the scale's error."""
    from deploy.calibrate_gaze import leave_one_out
    rng = np.random.default_rng(5)
    M = np.array([[1.2, 0.0, 2.0], [0.0, 0.8, -1.0]])  # a person whose error scales with the angle
    truth = rng.uniform(-20, 20, (6, 2))
    predicted = (truth - M[:, 2]) @ np.linalg.inv(M[:, :2]).T
    assert Calibration.fit(predicted[:5], truth[:5]).kind == "offset"
    cal = Calibration.fit(predicted, truth)
    assert cal.kind == "affine" and cal.error_after < 1e-6
    loo = leave_one_out(predicted, truth, cal.kind)
    assert loo.max() < 1e-6  # five targets determine the affine map exactly
    assert leave_one_out(predicted, truth, "offset").mean() > 1.0  # what refitting offsets would report
    assert leave_one_out(predicted[:3], truth[:3], "affine") is None  # two left cannot fit it
    with pytest.raises(ValueError, match="affine calibration needs 3"):
        Calibration.fit(predicted[:2], truth[:2], "affine")


def test_a_saved_calibration_keeps_its_kind(tmp_path):
    predicted = np.array([[0.0, 0], [10, 0], [0, 10], [10, 10], [5, 5], [3, 7]])
    cal = Calibration.fit(predicted, predicted + [1.0, 0.0])  # an affine fit that finds an offset
    assert cal.kind == "affine"
    cal.save(str(tmp_path / "c.json"))
    assert Calibration.load(str(tmp_path / "c.json")).kind == "affine"
