"""Photos and video to answers: box maps, detectors, the One-Euro filter, tracking, deploy/analyze.py."""
import json
import os

import cv2
import numpy as np
import pytest

from recordio import geometry, headpose
from tests.conftest import shared_path

FPS = 25.0


def test_a_fitted_box_map_is_the_one_that_made_the_boxes():
    rng = np.random.default_rng(0)
    centre, size = rng.uniform(50, 500, (40, 2)), rng.uniform(20, 200, (40, 1))
    detected = np.concatenate([centre - size / 2, centre + size / 2], 1)
    box_map = (0.02, 0.11, 1.3, 1.25)
    annotated = geometry.map_box(detected, box_map)
    annotated[:3] += 40.0  # a few poor matches do not pull the median
    np.testing.assert_allclose(geometry.fit_box_map(detected, annotated), box_map, atol=1e-9)
    np.testing.assert_allclose(geometry.map_box(detected, (0, 0, 1, 1)), detected)


def test_the_points_box_map_is_fitted_from_the_points_tight_box_and_re_makes_the_box():
    from deploy.detect import refit_boxes
    from tools.fit_boxmap import fit_points
    rng = np.random.default_rng(2)
    points = rng.uniform(0, 1, (30, 21, 2)) * rng.uniform(30, 200, (30, 1, 1)) + rng.uniform(0, 400, (30, 1, 2))
    box_map = (0.01, 0.1, 1.3, 1.33)
    boxes = geometry.map_box(geometry.points_box(points), box_map)
    record = fit_points({"photo%d" % k: [(boxes[k], points[k])] for k in range(30)})
    np.testing.assert_allclose(record["map"], box_map, atol=1e-5)
    assert record["faces"] == 30 and record["mean_iou_mapped"] > 0.999
    np.testing.assert_allclose(refit_boxes(points, record["map"]), boxes, atol=1e-2)


def test_one_euro_filter_keeps_a_still_point_still_and_follows_a_step():
    from deploy.track import OneEuroFilter
    f = OneEuroFilter(min_cutoff=1.0, beta=2.0)
    still = [f(np.array([10.0, 20.0]), k / FPS, scale=50.0) for k in range(20)]
    np.testing.assert_array_equal(still[-1], [10.0, 20.0])  # exactly still
    f = OneEuroFilter(min_cutoff=1.0, beta=2.0)
    rng = np.random.default_rng(1)
    noisy = 10.0 + rng.normal(0, 0.5, 200)
    out = np.array([f(np.array([x]), k / FPS, scale=50.0)[0] for k, x in enumerate(noisy)])
    assert np.std(np.diff(out[50:])) < 0.25 * np.std(np.diff(noisy[50:]))  # the jitter goes
    f = OneEuroFilter(min_cutoff=1.0, beta=2.0)
    step = [f(np.array([0.0 if k < 10 else 20.0]), k / FPS, scale=50.0)[0] for k in range(40)]
    frames = next(k for k in range(10, 40) if abs(step[k] - 20.0) < 1.0) - 10
    assert frames <= 6  # a 20 px jump (0.4 face widths) is followed within 1 px in 6 frames (a quarter second)


def test_kalman_filter_keeps_a_still_point_still_follows_steady_motion_and_jumps():
    from deploy.track import KalmanFilter
    f = KalmanFilter()
    still = [f(np.array([10.0, 20.0]), k / FPS, scale=50.0) for k in range(20)]
    np.testing.assert_array_equal(still[-1], [10.0, 20.0])  # exactly still
    f = KalmanFilter()
    rng = np.random.default_rng(1)
    noisy = 10.0 + rng.normal(0, 0.5, 200)
    out = np.array([f(np.array([x]), k / FPS, scale=50.0)[0] for k, x in enumerate(noisy)])
    assert np.std(np.diff(out[50:])) < 0.35 * np.std(np.diff(noisy[50:]))  # the jitter goes
    f = KalmanFilter()
    ramp = [f(np.array([2.0 * k]), k / FPS, scale=50.0)[0] for k in range(50)]
    assert abs(ramp[-1] - 98.0) < 0.01  # steady motion (50 px/s) is followed without lag once its speed is known
    f = KalmanFilter()
    step = [f(np.array([0.0 if k < 10 else 20.0]), k / FPS, scale=50.0)[0] for k in range(40)]
    assert step[10] == 20.0 and max(step) == 20.0  # a 0.4 face-width jump restarts the filter: no lag, no overshoot
    f = KalmanFilter()
    step = np.array([f(np.array([0.0 if k < 10 else 5.0]), k / FPS, scale=50.0)[0] for k in range(60)])
    assert max(step) < 6.0  # a small step (0.1 face widths, within the noise the filter expects) overshoots < 1 px
    frames = next(k for k in range(10, 60) if np.all(np.abs(step[k:] - 5.0) < 1.0)) - 10
    assert frames <= 4  # and stays within 1 px of it after 4 frames


def test_the_fixed_lag_smoother_revises_points_with_later_frames_but_never_across_a_restart():
    from deploy.track import KalmanFilter
    rng = np.random.default_rng(2)
    t = np.arange(150) / FPS
    truth = 100.0 + 20.0 * np.sin(0.8 * t)  # slow motion, px
    noisy = truth + rng.normal(0, 1.0, len(t))
    lag = 4
    f = KalmanFilter(keep=lag + 1)
    filtered, smoothed = [], {}
    for k in range(len(t)):
        filtered.append(f(np.array([noisy[k]]), t[k], scale=50.0)[0])
        if k >= lag:
            smoothed[k - lag] = f.smoothed(t[k - lag])[0]
    assert f.smoothed(t[len(t) - lag - 2]) is None  # older than the kept history
    np.testing.assert_allclose(f.smoothed(t[-1]), filtered[-1])  # the newest frame has nothing after it
    s = np.array([smoothed[k] for k in range(20, len(t) - lag)])
    e_f, e_s = np.array(filtered[20:len(t) - lag]) - truth[20:len(t) - lag], s - truth[20:len(t) - lag]
    assert np.sqrt(np.mean(np.diff(e_s) ** 2)) < 0.5 * np.sqrt(np.mean(np.diff(e_f) ** 2))  # half the jitter
    assert np.sqrt(np.mean(e_s ** 2)) < np.sqrt(np.mean(e_f ** 2))  # and closer to the truth
    f = KalmanFilter(keep=lag + 1)
    still = [f(np.array([10.0]), k / FPS, scale=50.0) for k in range(10)]
    assert f.smoothed(9 / FPS)[0] == 10.0 and still[-1][0] == 10.0  # a still point stays still
    f(np.array([30.0]), 10 / FPS, scale=50.0)  # a jump restarts the filter: the frames before it keep their value
    assert f.smoothed(9 / FPS) is None and f.smoothed(10 / FPS)[0] == 30.0


def _frontal_photo(seed=0):
    from tools.synth.render import SynthConfig, render_photo
    cfg = SynthConfig(yaw=10.0, pitch=10.0, roll=5.0, blur_prob=0.0, noise_sigma=(0.0, 0.0), occluder_prob=0.0,
                      outside_prob=0.0, faces_per_photo=(1, 1), head_frac=(0.45, 0.55))
    img, faces, _ = render_photo(np.random.default_rng([seed, 3]), cfg, size=(640, 480), centred=True)
    return img, faces[0]


@pytest.mark.parametrize("backend", ["haar", "dlib", "mtcnn"])
def test_wheel_detectors_find_a_rendered_frontal_face_and_map_their_boxes(backend):
    """Default settings: the shipped box map is applied, and the box lands on the face in the annotators'
    convention (the course's box around the rendered face's 21 points)."""
    from deploy.detect import load_box_maps, make_detector
    from recordio.schema import COURSE21, convert_points
    img, face = _frontal_photo()
    det = make_detector(backend)
    found = det.detect(img)
    assert len(found) >= 1
    np.testing.assert_allclose(found.boxes, geometry.map_box(found.raw, load_box_maps()[backend]["map"]))
    truth = geometry.map_box(geometry.points_box(convert_points(face.points, "course21")), COURSE21.box_from_points)
    assert geometry.box_iou(found.boxes, truth).max() > 0.5


@pytest.mark.parametrize("backend", ["haar", "dlib", "mtcnn"])
def test_default_detectors_box_real_faces_as_the_annotators_do(backend):
    """On 20 real course photos, with default settings, the matched faces' boxes overlap the annotated ones
    (median IoU of 0.78-0.83 measured) more than the detector's own boxes do (0.57-0.75)."""
    from deploy.detect import make_detector
    from recordio import imagefile, labelfiles
    src = shared_path("course21", "I")
    entries, _ = labelfiles.read_course21(os.path.join(src, "label.txt"))
    by_photo = {}
    for e in entries:
        by_photo.setdefault(e.image, []).append(e.box)
    det = make_detector(backend)
    raw, mapped = [], []
    for name in sorted(by_photo)[:20]:
        found = det.detect(imagefile.read(os.path.join(src, name)))
        for box in by_photo[name]:
            if not len(found):
                continue
            iou = geometry.box_iou(box, found.boxes)[0]
            k = int(iou.argmax())
            if max(iou[k], geometry.box_iou(box, found.raw)[0].max()) >= 0.3:  # this face was found
                mapped.append(iou[k])
                raw.append(geometry.box_iou(box, found.raw[k:k + 1])[0, 0])
    assert len(mapped) >= 30
    assert np.median(mapped) > max(0.7, np.median(raw))
    assert np.mean(np.array(mapped) >= 0.5) >= 0.9


def test_a_union_of_detectors_keeps_the_first_ones_faces_and_adds_only_the_others_new_ones():
    from deploy.detect import UNION_IOU, make_detector
    from tools.synth.render import SynthConfig, render_photo
    img, faces, _ = render_photo(np.random.default_rng(3), SynthConfig(faces_per_photo=(3, 4), yaw=60.0, blur_prob=0.0,
                                                                       occluder_prob=0.0), size=(960, 640))
    union = make_detector("dlib+haar")
    got = union.detect(img)
    first, second = make_detector("dlib").detect(img), make_detector("haar").detect(img)
    expected = list(first.boxes)
    for b in second.boxes:
        if not expected or geometry.box_iou(b, np.array(expected))[0].max() < UNION_IOU:
            expected.append(b)
    np.testing.assert_allclose(got.boxes, np.array(expected).reshape(-1, 4))
    assert len(first) < len(got) < len(first) + len(second)  # here Haar adds a face and repeats others
    assert len(got) == len(got.scores) == len(got.raw)
    one, face = _frontal_photo()
    found = union.detect(one)  # both find the frontal face; in one box convention it is one face
    assert (geometry.box_iou(geometry.points_box(face.points), found.boxes)[0] > 0.3).sum() == 1
    with pytest.raises(ValueError, match="not boxes"):
        make_detector("dlib+boxes")


def test_a_turned_detector_finds_a_face_rolled_past_its_training_and_turns_its_box_back():
    from deploy.detect import TurnedDetector, make_detector
    from recordio import schema as sch
    img, face = _frontal_photo()
    truth = sch.convert_points(face.points, "course21")
    upright_box = make_detector("mtcnn").detect(img).boxes
    assert len(upright_box) == 1
    turn = geometry.similarity_affine(truth.mean(0), 75.0, 1.0)  # the face rolled 75 degrees about its centre
    rolled = geometry.warp(img, turn, img.shape[1], img.shape[0])
    centre = geometry.apply_affine(turn, ((upright_box[0, :2] + upright_box[0, 2:]) / 2)[None])[0]
    mtcnn = make_detector("mtcnn")
    assert not len(mtcnn.detect(rolled))  # upright, MTCNN misses it (at 60 degrees it still finds it)
    turned = make_detector("mtcnn@75")
    assert isinstance(turned, TurnedDetector) and turned.angles == [-75.0, 75.0] and turned.name == "mtcnn@75"
    found = turned.detect(rolled)
    assert len(found) == 1 and len(found.raw) == len(found.scores) == 1
    size = geometry.box_size(upright_box)[0][0]
    # the box found on the photo turned back by 75 degrees: about the upright face's box, about its centre
    np.testing.assert_allclose((found.boxes[0, :2] + found.boxes[0, 2:]) / 2, centre, atol=0.1 * size)
    assert abs(geometry.box_size(found.boxes)[0][0] / size - 1) < 0.15
    for bad in ("mtcnn@", "mtcnn@x", "mtcnn@0", "boxes@30"):
        with pytest.raises(ValueError, match="turned by degrees"):
            make_detector(bad)
    assert make_detector("mtcnn@30/50+dlib").name == "mtcnn@30/50+dlib"


def test_detector_backends_report_what_they_need(tmp_path):
    from deploy.detect import make_detector
    with pytest.raises(FileNotFoundError, match="nothing is downloaded"):
        make_detector("yunet", yunet=str(tmp_path / "missing.onnx"))
    with pytest.raises(ValueError, match="valid: haar"):
        make_detector("retina")


@pytest.fixture(scope="module")
def landmark_model(tmp_path_factory, course21_archive):
    """A briefly trained stage-3 course21 export (what analyze's mechanics need; not its accuracy)."""
    from train import train_landmarks
    out = str(tmp_path_factory.mktemp("analyze_model") / "run")
    train_landmarks.main(["--train", course21_archive[0], "--out", out, "--model", "course_stage3", "--epochs", "1",
                          "--max_batches", "2", "--num_workers", "0", "--log_interval", "0"])
    return os.path.join(out, "model")


def test_analyze_applies_the_box_map_as_its_fit_and_names_what_it_skips(tmp_path, landmark_model):
    from deploy import analyze
    from deploy.detect import load_box_maps, make_detector
    src = shared_path("course21", "I")
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("000007.jpg", "000010.jpg"):
        os.symlink(os.path.join(src, name), photos / name)
    data = open(os.path.join(src, "000015.jpg"), "rb").read()
    (photos / "cut.jpg").write_bytes(data[: len(data) // 2])  # cut short: decodes, but is not whole
    (photos / "notes.txt").write_text("not a photo")
    summary = analyze.main([str(photos), str(tmp_path / "missing.jpg"), "--landmarks", landmark_model, "--detector",
                            "haar", "--keep_nonfaces", "--no_refit", "--out", str(tmp_path / "out")])
    skipped = {os.path.basename(s["source"]): s["reason"] for s in summary["skipped"]}
    assert "cut short" in skipped["cut.jpg"] and skipped["missing.jpg"] == "not found"
    assert summary["photos_read"] == 2 and "notes.txt" not in skipped  # a folder's other files are not inputs
    lines = [json.loads(line) for line in open(tmp_path / "out" / "results.jsonl")]
    det = make_detector("haar")
    box_map = load_box_maps()["haar"]["map"]
    for name in ("000007.jpg", "000010.jpg"):
        raw = det.detect(cv2.imread(os.path.join(src, name))).raw
        boxes = [l["box"] for l in lines if l["source"].endswith(name)]
        np.testing.assert_allclose(sorted(map(tuple, boxes)), sorted(map(tuple, geometry.map_box(raw, box_map))),
                                   atol=0.01)
    assert all(len(l["points"]) == 21 and set(l["pose"]) == {"pitch", "yaw", "roll"} for l in lines)
    assert os.path.exists(tmp_path / "out" / "drawn" / "000007.jpg")


def test_a_second_look_from_the_points_recrops_a_badly_boxed_face_in_the_annotators_convention():
    from bench.bench_detect import annotated
    from deploy.analyzer import SHIPPED_LANDMARKS, look
    from deploy.detect import points_map, refit_boxes
    from deploy.predictor import Predictor
    from recordio import imagefile, metrics
    photos = annotated(shared_path("course21", "I"), "test")
    predictor = Predictor(SHIPPED_LANDMARKS)
    refit_map = points_map("course21")
    assert refit_map is not None
    iou, nme = {"detector": [], "refit": []}, {"detector": [], "refit": []}
    for path, faces in list(photos.items())[:30]:
        image = imagefile.read(path)
        truth = np.array([f.box for f in faces])
        w, h = geometry.box_size(truth)
        off = geometry.map_box(truth, (0.12, -0.1, 1.25, 1.25))  # a detector's box: off-centre and too large
        for way, refit in (("detector", None), ("refit", refit_map)):
            boxes, points, scores = look(predictor, image, off, refit)
            iou[way] += list(np.diag(geometry.box_iou(boxes, truth)))
            nme[way] += list(metrics.nme(points, np.stack([f.points for f in faces]), "course21"))
            if refit is not None:
                first = look(predictor, image, off)[1]
                np.testing.assert_allclose(boxes, refit_boxes(first, refit_map))  # the first look's points' box
    assert np.mean(iou["refit"]) > np.mean(iou["detector"]) + 0.1
    assert np.median(nme["refit"]) < 0.9 * np.median(nme["detector"])


def test_a_truncated_video_is_named_and_skipped_and_the_run_goes_on(tmp_path, landmark_model):
    from deploy import analyze
    from tools.synth.formats import write_video
    write_video(str(tmp_path / "v"), 2, seed=3, frames=12, faces=(1, 1), truncate=1)
    truth = [json.loads(line) for line in open(tmp_path / "v" / "ground_truth.jsonl")]
    cut = [t["video"] for t in truth if t["expect_reject"]][0]
    whole = [t["video"] for t in truth if not t["expect_reject"]][0]
    summary = analyze.main([str(tmp_path / "v" / cut), str(tmp_path / "v" / whole), "--landmarks", landmark_model,
                            "--detector", "dlib", "--keep_nonfaces", "--out", str(tmp_path / "out")])
    assert any(os.path.basename(s["source"]) == cut for s in summary["skipped"])
    assert summary["frames"] == 12 and os.path.exists(tmp_path / "out" / whole)


def test_a_rendered_video_goes_through_analyze_with_stable_tracks_and_points_near_the_truth(tmp_path):
    from deploy import analyze
    from recordio import metrics
    from recordio.schema import COURSE21
    from tools.synth.formats import write_video
    from tools.synth.render import SynthConfig
    cfg = SynthConfig(yaw=25.0, pitch=12.0, roll=12.0, eye_lo=15.0, eye_la=10.0)
    write_video(str(tmp_path / "v"), 1, seed=21, frames=40, faces=(2, 2), cfg=cfg)
    summary = analyze.main([str(tmp_path / "v" / "video_000.mp4"), "--detector", "dlib", "--out", str(tmp_path / "o"),
                            "--no_draw"])
    assert summary["frames"] == 40 and summary["detector_runs"] < 40  # tracked between detections
    truth = [json.loads(line) for line in open(tmp_path / "v" / "video_000.jsonl")]
    results = [json.loads(line) for line in open(tmp_path / "o" / "results.jsonl")]
    by_frame = {}
    for t in truth:
        by_frame.setdefault(t["frame"], []).append(t)
    track_of_face, nmes = {}, []
    for r in results:
        pred = np.array(r["points"])
        t = min(by_frame[r["frame"]], key=lambda t: np.linalg.norm(pred.mean(0) - np.mean(t["points21"], 0)))
        track_of_face.setdefault(t["face"], set()).add(r["track"])
        nmes.append(metrics.nme(pred[None], np.array(t["points21"])[None], COURSE21)[0])
    assert all(len(tracks) == 1 for tracks in track_of_face.values())  # one id per face, the whole video
    assert len(results) >= 0.9 * len(truth)  # both faces answered in nine frames out of ten at least
    assert np.median(nmes) < 0.15  # the shipped model on rendered faces: median NME under 0.15
    per_frame = {}
    for r in results:
        per_frame.setdefault(r["frame"], []).append(r["track"])
    assert all(len(ids) == len(set(ids)) <= len(by_frame[f]) for f, ids in per_frame.items())  # a line per face
    analyze.main([str(tmp_path / "v" / "video_000.mp4"), "--detector", "dlib", "--out", str(tmp_path / "raw"),
                  "--no_draw", "--no_smooth"])
    raw = [json.loads(line) for line in open(tmp_path / "raw" / "results.jsonl")]
    assert _jitter(results, by_frame) < 0.8 * _jitter(raw, by_frame)  # smoothing steadies the points


def _jitter(results, truth_by_frame):
    """RMS frame-to-frame change of each point's error, over the face's size (per track)."""
    err = {}
    for r in results:
        pred = np.array(r["points"])
        t = min(truth_by_frame[r["frame"]], key=lambda t: np.linalg.norm(pred.mean(0) - np.mean(t["points21"], 0)))
        size = np.ptp(np.array(t["points21"])[:, 0])
        err.setdefault(r["track"], {})[r["frame"]] = (pred - np.array(t["points21"])) / size
    steps = [e[f] - e[f - 1] for e in err.values() for f in e if f - 1 in e]
    return float(np.sqrt(np.mean(np.square(steps))))


def test_a_face_rolled_past_the_models_training_is_answered_upright_and_its_points_turned_back():
    from deploy.analyzer import SHIPPED_LANDMARKS, look
    from deploy.predictor import Predictor
    from recordio import metrics, schema as sch
    img, face = _frontal_photo()
    truth = sch.convert_points(face.points, "course21")
    box = geometry.map_box(geometry.points_box(truth), sch.COURSE21.box_from_points)
    one_pass, upright = Predictor(SHIPPED_LANDMARKS), Predictor(SHIPPED_LANDMARKS, upright=15.0)
    # a face the model was trained on (rolled 5 degrees at most): no second pass, the same answer
    np.testing.assert_array_equal(look(one_pass, img, [box])[1], look(upright, img, [box])[1])
    nmes = {}
    for roll in (-60.0, 60.0):
        turn = geometry.similarity_affine(truth.mean(0), roll, 1.0)  # the photo turned about the face
        rolled = geometry.warp(img, turn, img.shape[1], img.shape[0])
        points = geometry.apply_affine(turn, truth)
        assert abs(headpose.roll_from_points(points, "course21") - headpose.roll_from_points(truth, "course21")
                   - roll) < 1e-6
        rolled_box = geometry.map_box(geometry.points_box(points), sch.COURSE21.box_from_points)
        for name, predictor in (("one pass", one_pass), ("upright", upright)):
            nmes.setdefault(name, []).append(metrics.nme(look(predictor, rolled, [rolled_box])[1],
                                                         points[None], "course21")[0])
    base = metrics.nme(look(one_pass, img, [box])[1], truth[None], "course21")[0]
    # turned back onto the rolled face, near the upright face's answer (its box is larger: the face smaller)
    assert max(nmes["upright"]) < min(0.08, 1.6 * base)
    assert np.mean(nmes["upright"]) < 0.7 * np.mean(nmes["one pass"])  # one pass: 0.074 and 0.244


def test_a_shorter_lag_revises_each_frame_with_only_that_many_later_frames():
    """``smoothed(t, lag)`` from a filter that keeps more frames than the lag (Gaze360 makes frames wait 3 frames
    whatever the lag) is the revision one later frame gives: what a filter keeping lag + 1 frames answers as soon
    as that frame comes.  Before, such a filter no longer held the frame and revised nothing."""
    from deploy.track import KalmanFilter
    rng = np.random.default_rng(1)
    long, short = KalmanFilter(keep=4), KalmanFilter(keep=2)
    by_next, compared = {}, 0
    for k in range(24):
        z = np.array([[10.0 + 2.0 * k, 5.0]]) + rng.normal(0, 0.5, (1, 2))
        long(z, k / FPS, 10.0)
        short(z, k / FPS, 10.0)
        by_next[k - 1] = short.smoothed((k - 1) / FPS)  # frame k - 1 revised by frame k only
        if k >= 10:  # past the restarts of the first frames (the filter starts with no speed)
            t = (k - 3) / FPS  # a frame Gaze360's window has kept waiting for 3 frames
            np.testing.assert_allclose(long.smoothed(t, 1), by_next[k - 3], atol=1e-9)
            assert not np.allclose(long.smoothed(t), by_next[k - 3])  # all 3 later frames revise it otherwise
            compared += 1
    assert compared == 14


def test_a_pose_that_cannot_be_fitted_says_why(tmp_path, monkeypatch):
    import shutil

    from deploy import analyze

    def no_pose(*args, **kwargs):
        raise ValueError("solvePnP found no head pose in front of the camera")
    monkeypatch.setattr(headpose, "head_pose_from_landmarks", no_pose)
    shutil.copy(os.path.join(os.path.dirname(analyze.__file__), "samples", "faces_1.jpg"), tmp_path / "p.jpg")
    analyze.main([str(tmp_path / "p.jpg"), "--detector", "dlib", "--no_draw", "--out", str(tmp_path / "o")])
    lines = [json.loads(line) for line in open(tmp_path / "o" / "results.jsonl")]
    assert lines and all(r["pose"] is None and "no head pose" in r["pose_error"] for r in lines)


def test_tracker_keeps_ids_while_faces_stay_drops_a_lost_one_and_refreshes_a_doubtful_one():
    from deploy.detect import Detections
    from deploy.track import Tracker
    detections = []  # each detector call takes the next list of boxes

    def detect(image):
        boxes = detections.pop(0)
        return Detections(boxes, np.ones(len(boxes)), boxes=boxes)

    def points_in(box, shift=0.0):
        x1, y1, x2, y2 = np.asarray(box, float) + [shift, 0, shift, 0]
        return np.array([[x1 + 0.2 * (x2 - x1), y1 + 0.3 * (y2 - y1)], [x1 + 0.8 * (x2 - x1), y1 + 0.7 * (y2 - y1)]])

    tracker = Tracker(detect, detect_every=100, face_threshold=0.5, refresh_score=0.9)
    a, b = [10, 10, 60, 60], [200, 10, 260, 70]
    detections.append([a, b])
    tracks = tracker.boxes_for(None)
    assert [t.id for t in tracks] == [0, 1] and tracker.detections_run == 1
    for frame in range(1, 4):  # both faces move right 2 px a frame and stay sure: no detection, same ids
        for tr in list(tracker.boxes_for(None)):
            tracker.update(tr, points_in(a if tr.id == 0 else b, 2.0 * frame), 0.99, None, frame / FPS, (640, 480))
    assert [t.id for t in tracker.tracks] == [0, 1] and tracker.detections_run == 1
    assert tracker.tracks[0].box[0] == pytest.approx(10 + 2.0 * 2)  # follows the points (one frame behind)
    t0, t1 = tracker.tracks
    tracker.update(t0, points_in(a), 0.2, None, 4 / FPS, (640, 480))  # face 0 judged non-face: lost
    tracker.update(t1, points_in(b), 0.7, None, 4 / FPS, (640, 480))  # face 1 doubtful: look again
    assert [t.id for t in tracker.tracks] == [1]
    detections.append([[203, 12, 262, 71], [400, 300, 450, 350]])  # face 1 again, and a new face
    tracks = tracker.boxes_for(None)
    assert tracker.detections_run == 2 and [t.id for t in tracks] == [1, 2]  # face 1 keeps its id, a new one
    np.testing.assert_allclose(tracks[0].box, [203, 12, 262, 71])  # refreshed from the detection


def test_a_late_detection_lands_on_its_frame_however_long_it_takes_its_boxes_moved_with_their_tracks():
    import time

    from deploy.detector_base import Detections
    from deploy.track import Tracker
    asked = []

    def detect(image):  # the face moves 1 px right a frame; from frame 10 a second face is there
        k = int(image[0, 0])
        asked.append(k)
        time.sleep(0.05 if k else 0.0)  # the periodic detections are slow
        boxes = [[10.0 + k, 10, 50 + k, 50]] + ([[200.0, 10, 240, 50]] if k >= 10 else [])
        return Detections(boxes, np.ones(len(boxes)), boxes=boxes)

    tracker = Tracker(detect, detect_every=10, face_threshold=0.5, refresh_score=0.9, detect_lag=3)
    seen = {}
    for k in range(16):
        tracks = tracker.boxes_for(np.full((4, 4), k, np.uint8))
        seen[k] = {t.id: t.box.copy() for t in tracks}
        for tr in tracks:  # the model's points sit on the true face: a box 40 px wide moving 1 px a frame
            x = 10.0 + k if tr.id == 0 else 200.0
            tracker.update(tr, np.array([[x, 10.0], [x + 40, 50.0]]), 0.99, None, k / 25.0, (640, 480))
    tracker.close()
    assert asked == [0, 10]  # the first at once (no tracks), the periodic one on a thread
    assert all(len(seen[k]) == 1 for k in range(13)) and set(seen[13]) == {0, 1}  # frame 10's face, at frame 13
    np.testing.assert_allclose(seen[13][1], [200, 10, 240, 50])
    # the track's renewed box: frame 10's (exact) detection moved as the track's box moved since, 3 px: where the
    # face is at frame 13 (unmoved it would be 3 px behind; followed from the points alone, one frame behind)
    np.testing.assert_allclose(seen[13][0], [23, 10, 63, 50], atol=1e-6)
    np.testing.assert_allclose(seen[12][0], [21, 10, 61, 50], atol=1e-6)


def test_the_library_object_and_the_cli_give_the_same_answers(tmp_path):
    """``FaceAnalyzer`` built once and called on a BGR array gives exactly the lines analyze.py writes, for a
    photo and for a video (tracks, smoothing and all)."""
    import shutil

    from deploy import FaceAnalyzer, analyze
    from recordio import imagefile
    from tools.synth.formats import write_video
    photo = str(tmp_path / "p.jpg")
    shutil.copy(os.path.join(os.path.dirname(analyze.__file__), "samples", "faces_1.jpg"), photo)
    write_video(str(tmp_path / "v"), 1, seed=6, frames=12, faces=(1, 2))
    video = str(tmp_path / "v" / "video_000.mp4")
    analyze.main([photo, video, "--detector", "dlib", "--out", str(tmp_path / "o"), "--no_draw"])
    lines = [json.loads(line) for line in open(tmp_path / "o" / "results.jsonl")]
    analyzer = FaceAnalyzer(detector="dlib")
    faces = analyzer.photo(imagefile.read(photo), source=photo)
    frames = list(analyzer.video(video))
    assert faces and [f.as_dict() for f in faces] == [line for line in lines if line["source"] == photo]
    assert [f.as_dict() for fr in frames for f in fr.faces] == [line for line in lines if line["source"] == video]
    assert [fr.index for fr in frames] == list(range(12)) and all(f.track is not None for f in frames[5].faces)
    bare = analyzer.photo(imagefile.read(photo))  # an array with no file behind it: the same faces
    assert [f.points.tolist() for f in bare] == [f.points.tolist() for f in faces] and bare[0].source is None
    assert faces[0].pose == lines[0]["pose"] and faces[0].points.shape == (21, 2)
    drawn = analyzer.draw(imagefile.read(photo), faces)
    assert drawn.shape == imagefile.read(photo).shape and (drawn != imagefile.read(photo)).any()
    with pytest.raises(TypeError, match="unknown options detecter; valid: .*detector"):
        FaceAnalyzer(detecter="dlib")
