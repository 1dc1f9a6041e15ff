import json
import os

import cv2
import numpy as np

from recordio import face3d, geometry
from recordio.dataset import ArchiveReader
from tools import make_rec, make_synthetic
from tools.synth.render import PARTS, SynthConfig, render_photo

CLEAN = SynthConfig(blur_prob=0.0, noise_sigma=(0.0, 0.0), occluder_prob=0.0, outside_prob=0.0,
                    head_frac=(0.6, 0.8), faces_per_photo=(1, 1), makeup_prob=0.0)


def _clean_faces(n, seed=0, **kw):
    cfg = SynthConfig(**{**vars(CLEAN), **kw})
    for i in range(n):
        img, faces, _ = render_photo(np.random.default_rng([seed, i]), cfg, size=(640, 640), centred=True)
        yield img, faces[0]


def _luma(px):
    return float(np.dot(px, [0.114, 0.587, 0.299]))


def test_pupil_points_are_the_projected_iris_centres_and_sit_on_the_pupil():
    checked = 0
    for img, f in _clean_faces(12, yaw=40.0):
        K = geometry.camera_matrix(640, 640)
        centres = face3d._eyeball_centres(f.model) @ f.R.T + f.t
        for side, idx in ((0, 96), (1, 97)):
            iris_centre = centres[side] + face3d.EYE_RADIUS * f.gaze_vector
            np.testing.assert_allclose(f.points[idx], geometry.project(iris_centre, K), atol=1e-9)
            if f.visible[idx]:
                x, y = int(f.points[idx][0]), int(f.points[idx][1])
                assert min(_luma(px) for px in img[y - 1:y + 2, x - 1:x + 2].reshape(-1, 3)) < 60  # on the dark pupil
                checked += 1
    assert checked >= 12


def test_eye_corners_lie_on_the_drawn_eyelid_outline():
    checked = 0
    for img, f in _clean_faces(12, yaw=40.0):
        skin = _luma(f.appearance["skin"])
        for idx in (60, 64, 68, 72):
            if f.visible[idx]:
                x, y = f.points[idx]
                assert _luma(img[int(y), int(x)]) < 0.75 * skin, idx  # on the dark lash line
                checked += 1
    assert checked >= 30


def test_no_visible_point_belongs_to_a_hidden_part_or_faces_away():
    hidden_seen = 0
    for i in range(40):
        img, faces, _ = render_photo(np.random.default_rng([9, i]), SynthConfig(yaw=60.0, occluder_prob=0.5))
        for f in faces:
            for part, drawn in f.parts_drawn.items():
                if not drawn:
                    hidden_seen += 1
                    assert not f.visible[PARTS[part]].any(), part
            normals = face3d.point_normals(f.model) @ f.R.T
            facing = np.sum(normals * f.points3d, axis=1) < 0
            assert not (f.visible[:96] & ~facing[:96]).any()
            if f.occluder is not None:
                from tools.synth.render import inside_polygon
                assert not (f.visible & inside_polygon(f.occluder, f.points)).any()
    assert hidden_seen > 0


def test_gaze_is_the_mc4_composition_and_points_from_eyeball_to_pupil():
    for img, f in _clean_faces(6):
        np.testing.assert_allclose(f.gaze, geometry.mc4_compose(f.head, f.eye), atol=1e-9)
        centre = face3d._eyeball_centres(f.model)[0] @ f.R.T + f.t
        d = f.points3d[96] - centre
        np.testing.assert_allclose(d / np.linalg.norm(d), f.gaze_vector, atol=1e-9)


def test_rendering_is_deterministic_for_a_seed():
    a, fa, _ = render_photo(np.random.default_rng([1, 2]))
    b, fb, _ = render_photo(np.random.default_rng([1, 2]))
    c, _, _ = render_photo(np.random.default_rng([1, 3]))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    np.testing.assert_array_equal(fa[0].points, fb[0].points)


def test_make_rec_euler_from_rendered_landmarks_within_3_degrees(tmp_path, synth_wflw):
    src, truth = synth_wflw
    out = str(tmp_path / "w")
    ann = os.path.join(src, "WFLW_annotations", "list_98pt_rect_attr_train_test", "list_98pt_rect_attr_train.txt")
    make_rec.main(["wflw", ann, "--images", os.path.join(src, "WFLW_images"), "--out", out,
                   "-j", "1"])
    r = ArchiveReader(os.path.join(out, "train"))
    by_line = {t["line"]: t for t in truth if t["split"] == "train"}
    errs = []
    for i in range(len(r)):
        lab = r.read(i, decode=False)[1]
        t = by_line[int(r.layout.get(lab, "line")[0])]
        errs.append(np.abs(r.layout.get(lab, "euler") - [t["pitch"], t["yaw"], t["roll"]]))
    assert len(errs) > 50 and np.max(errs) < 3.0


def test_course21_synthetic_packs_with_no_rejects(tmp_path, synth_course21):
    src, truth = synth_course21
    s = make_rec.main(["course21", os.path.join(src, "I"), "--out", str(tmp_path / "c"), "-j", "1"])
    assert sum(v["rejected"] for v in s.values()) == 0
    assert sum(v["faces"] for v in s.values()) == len(truth)


def test_course21_points_follow_the_same_3d_model():
    from recordio.schema import convert_points
    img, faces, _ = render_photo(np.random.default_rng(0), CLEAN, size=(640, 640), centred=True)
    f = faces[0]
    pts21 = geometry.project(convert_points(f.points3d, "course21"), geometry.camera_matrix(640, 640))
    np.testing.assert_allclose(pts21[[6, 9, 16, 17]], f.points[[60, 72, 96, 97]], atol=1e-9)


def test_wflw_attribute_flags_and_subset_files_agree(synth_wflw):
    src, truth = synth_wflw
    sub = os.path.join(src, "WFLW_annotations", "list_98pt_test")
    n_pose = len(open(os.path.join(sub, "list_98pt_test_largepose.txt")).read().splitlines())
    assert n_pose == sum(1 for t in truth if t["split"] == "test" and t["attributes"][0])
    for t in truth:
        assert bool(t["attributes"][0]) == (abs(t["yaw"]) > 40 or abs(t["pitch"]) > 22 or abs(t["roll"]) > 25)


def test_make_synthetic_cli_writes_sidecar_and_contact_sheet(tmp_path):
    out = tmp_path / "s"
    sheet = tmp_path / "sheet.png"
    truth = make_synthetic.main(["course21", "--num", "7", "--out", str(out), "-j", "1", "--contact_sheet",
                                 str(sheet), "--sheet_faces", "6"])
    assert len(truth) == 7
    lines = (out / "ground_truth.jsonl").read_text().splitlines()
    assert len(lines) == 7 and len(json.loads(lines[0])["visible"]) == 98
    img = cv2.imread(str(sheet))
    assert img is not None and img.shape[0] >= 160 and img.shape[1] == 6 * 160


def test_course21_points_hidden_by_the_head_sit_on_its_outline_as_the_course_marks_them():
    import cv2
    from recordio.schema import WFLW98_TO_COURSE21, convert_points
    from tools.synth.formats import course21_points
    from tools.synth.render import render_centred, sample_person
    moved_total = 0
    for i, yaw in enumerate((75.0, -85.0, 20.0)):
        rng = np.random.default_rng([8, i])
        img, f = render_centred(rng, sample_person(rng, SynthConfig()), (0.0, yaw, 0.0), (0.0, 0.0), 300, 60)
        K = geometry.camera_matrix(300, 300)
        raw = geometry.project(convert_points(f.points3d, "course21"), K)
        pts = course21_points(f, K)
        hidden = np.array([not f.self_visible[list(src)].any() for src in WFLW98_TO_COURSE21])
        np.testing.assert_allclose(pts[~hidden], raw[~hidden])  # what the head shows stays where it is
        poly = f.outline.astype(np.float32).reshape(-1, 1, 2)
        for k in np.flatnonzero(hidden):
            if cv2.pointPolygonTest(poly, tuple(map(float, raw[k])), False) > 0:
                assert abs(cv2.pointPolygonTest(poly, tuple(map(float, pts[k])), True)) < 0.5  # on the outline
                assert pts[k, 1] == raw[k, 1] and (pts[k, 0] - raw[k, 0]) * np.sign(-yaw) > 0  # along its row
                moved_total += 1
        if abs(yaw) < 30:
            assert not hidden.any()
    assert moved_total >= 8
