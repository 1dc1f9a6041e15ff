"""Gaze on photos: each model's view cut from a rendered camera image matches what its archive holds, and
analyze.py --gaze runs every kind of gaze model through photos and video."""
import json
import os
import shutil

import numpy as np
import pytest

from recordio import gazeviews, geometry, headpose
from recordio.schema import GAZE_POINTS, MC4, MPIIFACEGAZE, gaze_point_indices


def _scene(euler, eye, t, size=(1280, 720), focal=1000.0, seed=1):
    """One rendered face at head pose ``euler`` (deg), eye angles ``eye`` and position ``t`` (mm)."""
    from tools.synth.render import SynthConfig, draw_face, pose_face, sample_person
    rng = np.random.default_rng(seed)
    person = sample_person(rng, SynthConfig())
    person["appearance"]["makeup"] = False
    K = geometry.camera_matrix(*size, focal)
    f = pose_face(np.asarray(euler, float), np.asarray(t, float), np.asarray(eye, float), person["identity"])
    f.appearance = dict(person["appearance"], K=K)
    img = np.full((size[1], size[0], 3), 120, np.uint8)
    draw_face(img, f, K, person["light"], rng, makeup=False)
    return img, f, K, person


def test_the_normalised_face_of_a_photo_is_the_face_rendered_by_the_normalised_camera():
    """ETRA-2018 normalisation of an off-centre, turned face: the same image and gaze label the synthetic
    MPIIFaceGaze writer renders directly in the normalised camera, and the label turns back exactly."""
    from tools.synth.render import render_centred
    img, f, K, person = _scene((10.0, 25.0, 0.0), (10.0, -5.0), (150.0, -60.0, 450.0))
    v = gazeviews.normalised_face(img, K, f.R, f.t, MPIIFACEGAZE.view, points3d=f.model)
    euler_n = np.array(geometry.matrix_to_euler(v.R_view @ f.R))
    assert abs(euler_n[2]) < 1e-9  # no head roll in a normalised image
    view = MPIIFACEGAZE.view
    direct, g = render_centred(np.random.default_rng(1), person, euler_n, f.eye, view["side"], focal=view["focal"],
                               distance=view["distance"], background=np.full((448, 448, 3), 120, np.uint8))
    np.testing.assert_allclose(v.R_view @ f.gaze_vector, g.gaze_vector, atol=1e-9)
    np.testing.assert_allclose(v.to_camera(g.gaze_vector), f.gaze_vector, atol=1e-9)
    # the inner face (nose, eyes, lips) where the direct render draws it, up to the perspective of a nearer camera
    # (the warp scales the image, never the distance; the outline, seen from nearer, differs more), and the same
    # picture (the light stays with the camera, so shading differs)
    inner = slice(51, 98)
    moved = geometry.apply_homography(v.H, f.points[inner])
    assert np.abs(moved - g.points[inner]).max() < 0.01 * view["side"]
    assert np.corrcoef(v.image.astype(float).ravel(), direct.astype(float).ravel())[0, 1] > 0.8


def test_the_head_pose_from_the_points_gives_nearly_the_true_normalising_view():
    """The photo path knows only the points: the view from their solvePnP pose turns the camera within 2
    degrees of the true view and puts the face centre within 3% of the side of the middle."""
    img, f, K, _ = _scene((-8.0, 30.0, 6.0), (0.0, 0.0), (-120.0, 40.0, 500.0))
    R, t = headpose.head_pose_from_landmarks(f.points, (1280, 720), "wflw98", focal=K[0, 0])
    true = gazeviews.normalised_face(img, K, f.R, f.t, MPIIFACEGAZE.view, points3d=f.model)
    est = gazeviews.normalised_face(img, K, R, t, MPIIFACEGAZE.view)
    turn = np.degrees(np.arccos(np.clip((np.trace(est.R_view @ true.R_view.T) - 1) / 2, -1, 1)))
    assert turn < 2.0
    centre_px = geometry.project(gazeviews.centre_of(f.R, f.t, f.model), K)
    assert np.linalg.norm(geometry.apply_homography(est.H, centre_px) - 224) < 0.03 * 448


def test_mc4_views_of_a_mirrored_photo_are_the_mirrored_views_with_the_eyes_swapped():
    """A mirrored eye would show as a large gaze error: l_eye is cut from the image-left eye's own corners."""
    img, f, K, _ = _scene((5.0, 20.0, 10.0), (5.0, 5.0), (0.0, 10.0, 600.0), size=(640, 480), focal=640.0)
    from recordio.schema import WFLW98
    corners = list(GAZE_POINTS[:4])
    views, _ = gazeviews.mc4_views(img, K, f.points, f.points[corners], MC4.view)
    flipped = geometry.flip_points(f.points, 640, WFLW98.flip_perm)
    fviews, _ = gazeviews.mc4_views(img[:, ::-1].copy(), K, flipped, flipped[corners], MC4.view)
    for a, b in (("head", "head"), ("l_eye", "r_eye"), ("r_eye", "l_eye")):
        diff = np.abs(fviews[a][:, ::-1].astype(float) - views[b].astype(float)).mean()
        assert diff < 3.0, (a, b, diff)
    assert np.abs(views["l_eye"].astype(float) - views["r_eye"][:, ::-1].astype(float)).mean() > diff


def test_every_landmark_schema_has_the_points_gaze_inputs_need():
    assert gaze_point_indices("wflw98") == GAZE_POINTS
    assert gaze_point_indices("course21") == (6, 7, 8, 9, 19, 20)
    assert gaze_point_indices("ibug68") == (36, 39, 42, 45, 48, 54)


@pytest.fixture(scope="module")
def gaze_models(tmp_path_factory, synth_mc4, synth_mpii, synth_gaze360):
    """Briefly trained exports of each gaze input kind (analyze's mechanics, not accuracy)."""
    from tools import make_rec
    from train import train_gaze
    root = tmp_path_factory.mktemp("gaze_models")
    rec = {}
    make_rec.main(["mc4", os.path.join(synth_mc4[0], "train"), "--out", str(root / "mc4"), "-j", "1",
                   "--split", "whole"])
    rec["mc4"] = (str(root / "mc4" / "whole"), ["--model", "mc4_gazenet_small", "--head_size", "64",
                                                 "--eye_size", "32"])
    make_rec.main(["mpiifacegaze", synth_mpii[0], "--out", str(root / "mpii"), "-j", "1", "--size", "64"])
    rec["mpiifacegaze"] = (str(root / "mpii" / "p00"), ["--model", "mobile_facegaze_sm", "--input_size", "64"])
    make_rec.main(["gaze360", synth_gaze360[0], "--out", str(root / "g360"), "-j", "1", "--size", "48"])
    rec["gaze360"] = (str(root / "g360" / "train"), ["--model", "gaze360_lstm", "--input_size", "48"])
    out = {}
    for name, (archive, extra) in rec.items():
        run = str(root / ("run_" + name))
        train_gaze.main(["--train", archive, "--out", run, "--epochs", "1", "--max_batches", "2", "--batch_size", "4",
                         "--num_workers", "0", "--log_interval", "0"] + extra)
        out[name] = os.path.join(run, "model")
    return out


@pytest.fixture(scope="module")
def gaze_video(tmp_path_factory):
    from tools.synth.formats import write_video
    from tools.synth.render import SynthConfig
    out = str(tmp_path_factory.mktemp("gaze_video"))
    write_video(out, 1, seed=4, frames=10, faces=(1, 1), cfg=SynthConfig(yaw=20.0, pitch=10.0, roll=5.0))
    return os.path.join(out, "video_000.mp4")


@pytest.mark.parametrize("kind", ["mc4", "mpiifacegaze", "gaze360"])
def test_analyze_draws_gaze_for_every_tracked_face_in_every_frame(tmp_path, gaze_models, gaze_video, kind):
    from deploy import analyze
    out = tmp_path / "o"
    summary = analyze.main([gaze_video, "--gaze", gaze_models[kind], "--detector", "dlib", "--out", str(out)])
    lines = [json.loads(line) for line in open(out / "results.jsonl")]
    assert summary["gaze"]["frames"] == (7 if kind == "gaze360" else 1)
    assert sorted({r["frame"] for r in lines}) == list(range(10))  # Gaze360's delayed frames all come out
    for r in lines:
        g = np.array(r["gaze"]["vector"])
        assert abs(np.linalg.norm(g) - 1) < 1e-3
        pitch, yaw = np.degrees(geometry.vector_to_pitchyaw(g))
        assert (r["gaze"]["pitch"], r["gaze"]["yaw"]) == pytest.approx((pitch, yaw), abs=0.02)
        assert ("sigma" in r["gaze"]) == (kind == "gaze360") and ("eye_in_head" in r["gaze"]) == (kind == "mc4")
    assert os.path.getsize(out / "video_000.mp4") > 0


def test_analyze_refuses_a_gaze_model_whose_input_it_cannot_build(tmp_path, gaze_models):
    from deploy import analyze
    prefix = str(tmp_path / "model")
    for suffix in ("-symbol.json", "-0000.params", "-meta.json"):
        shutil.copy(gaze_models["mpiifacegaze"] + suffix, prefix + suffix)
    meta = json.load(open(prefix + "-meta.json"))
    meta["input"]["view"] = {"kind": "eye_patches"}
    json.dump(meta, open(prefix + "-meta.json", "w"))
    with pytest.raises(SystemExit, match="eye_patches"):
        analyze.main([str(tmp_path), "--gaze", prefix, "--detector", "dlib", "--out", str(tmp_path / "o")])


def test_analyze_applies_a_calibration_and_finds_the_screen_point(tmp_path, gaze_models):
    import cv2

    from deploy import analyze
    from deploy.gazecal import Calibration, angles_of
    img, f, K, _ = _scene((0.0, 10.0, 0.0), (5.0, -5.0), (20.0, 60.0, 600.0), focal=1280.0)
    photos = tmp_path / "photos"
    photos.mkdir()
    cv2.imwrite(str(photos / "me.png"), img)
    Calibration([[1, 0, 3.0], [0, 1, -2.0]]).save(str(tmp_path / "me.json"))
    (tmp_path / "screen.json").write_text(json.dumps({"width_mm": 600, "height_mm": 340, "width_px": 1920,
                                                      "height_px": 1080, "camera_above_mm": 15}))
    common = [str(photos), "--gaze", gaze_models["mpiifacegaze"], "--detector", "dlib", "--focal", "1280",
              "--no_draw"]
    analyze.main(common + ["--out", str(tmp_path / "plain")])
    analyze.main(common + ["--out", str(tmp_path / "cal"), "--calibration", str(tmp_path / "me.json"),
                           "--screen", str(tmp_path / "screen.json")])
    plain = [json.loads(line) for line in open(tmp_path / "plain" / "results.jsonl")]
    cal = [json.loads(line) for line in open(tmp_path / "cal" / "results.jsonl")]
    assert len(plain) == len(cal) == 1
    g0, g1 = plain[0]["gaze"], cal[0]["gaze"]
    assert (g1["pitch"], g1["yaw"]) == pytest.approx((g0["pitch"] + 3.0, g0["yaw"] - 2.0), abs=0.03)
    np.testing.assert_allclose(g1["uncalibrated"], g0["vector"], atol=1e-4)
    origin = np.array(g1["origin_mm"])
    assert np.linalg.norm(origin - gazeviews.centre_of(f.R, f.t, f.model)) < 0.1 * np.linalg.norm(origin)  # from points
    # the screen point by hand: a webcam 15 mm above the top edge's middle, the screen in the plane z = 0 facing
    # the camera's -z, x right and y down as the person sees it
    g = np.asarray(g1["vector"])
    hit = origin - origin[2] / g[2] * g  # where the ray from the face meets z = 0
    mm = np.array([300.0 - hit[0], hit[1] - 15.0])  # facing the camera, the person's right is the camera's -x
    np.testing.assert_allclose(g1["screen"]["mm"], mm, atol=0.1)
    np.testing.assert_allclose(g1["screen"]["px"], mm * [1920 / 600.0, 1080 / 340.0], atol=0.3)
    np.testing.assert_allclose(angles_of(g1["vector"]), [g1["pitch"], g1["yaw"]], atol=0.02)
    with pytest.raises(SystemExit, match="--gaze"):
        analyze.main([str(photos), "--calibration", str(tmp_path / "me.json"), "--out", str(tmp_path / "x")])


def test_a_lag_shorter_than_gaze360s_window_still_smooths_the_points(tmp_path, gaze_models, gaze_video):
    """Gaze360 makes each frame wait 3 frames; a smoother lag of 1 must still revise the points (the filters
    keep as many frames as the frames wait)."""
    from deploy import analyze
    points = {}
    for lag in (0, 1):
        out = tmp_path / ("lag%d" % lag)
        analyze.main([gaze_video, "--gaze", gaze_models["gaze360"], "--detector", "dlib", "--no_draw", "--lag",
                      str(lag), "--out", str(out)])
        points[lag] = {r["frame"]: np.array(r["points"]) for r in map(json.loads, open(out / "results.jsonl"))}
    assert sorted(points[0]) == sorted(points[1]) == list(range(10))
    moved = [np.abs(points[1][f] - points[0][f]).max() for f in range(2, 8)]
    assert min(moved) > 1e-3  # every middle frame revised by the frame after it


@pytest.mark.parametrize("kind,tolerance", [("mpiifacegaze", 0.5), ("gaze360", 0.5), ("mc4", 3.0)])
def test_a_model_answering_straight_ahead_in_its_view_looks_into_the_camera(tmp_path, gaze_models, monkeypatch,
                                                                             kind, tolerance):
    """The views look at the face from the camera's centre, so a network answering (0, 0) in its view means the
    person looks into the lens: the answer must be the unit vector from the face centre to the camera (MC4's
    views look at the head box's centre, a few mm off the face centre: within 3 degrees there)."""
    import cv2

    from deploy import analyze
    from deploy.gaze import GazeModel
    img, f, K, _ = _scene((-10.0, 25.0, 5.0), (0.0, 0.0), (-80.0, 40.0, 700.0), focal=1000.0)
    cv2.imwrite(str(tmp_path / "p.png"), img)

    def straight_ahead(self, samples):
        return None if not samples else [np.zeros((len(samples), o["shape"][0]), np.float32)
                                         for o in self.predictor.meta["outputs"]]
    monkeypatch.setattr(GazeModel, "predict", straight_ahead)
    analyze.main([str(tmp_path / "p.png"), "--gaze", gaze_models[kind], "--detector", "dlib", "--focal", "1000",
                  "--no_draw", "--out", str(tmp_path / "o")])
    lines = [json.loads(line) for line in open(tmp_path / "o" / "results.jsonl")]
    assert len(lines) == 1
    origin = np.array(lines[0]["gaze"]["origin_mm"])
    into_lens = -origin / np.linalg.norm(origin)
    angle = np.degrees(np.arccos(np.clip(np.dot(lines[0]["gaze"]["vector"], into_lens), -1, 1)))
    assert angle < tolerance, angle
