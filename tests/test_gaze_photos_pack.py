"""make_rec.py gaze_photos: gaze archives cut from photos by the inference path, checked against the renderer's
truth (the true head pose, the true gaze) and the synthetic writers' geometry."""
import json
import os

import numpy as np
import pytest

from recordio import gazeviews, geometry
from recordio.dataset import RecordDataset
from recordio.schema import GAZE360, MC4, MPIIFACEGAZE, gaze_point_indices, read_meta

PHOTOS = 10


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """A rendered course21 folder and a gaze label file of the renderer's true gaze, one line per face; the
    first face answered ``found: false``."""
    from tools.synth.formats import write_course21
    from tools.synth.render import SynthConfig
    out = tmp_path_factory.mktemp("gaze_photos")
    cfg = SynthConfig(faces_per_photo=(1, 2), outside_prob=0.0, roll=10.0)
    truth = write_course21(str(out), PHOTOS, seed=5, cfg=cfg)
    with open(out / "I" / "gaze.jsonl", "w") as fh:
        for k, t in enumerate(truth):
            rec = {"image": t["image"], "line": t["line"], "found": k != 0}
            if k:
                rec["gaze_vector"] = t["gaze_vector"]
            fh.write(json.dumps(rec) + "\n")
    return out / "I", {t["line"]: t for t in truth}


def pack(folder, out, dataset, *extra):
    from tools import make_rec
    from tools.packers.gaze_photos import pack_gaze_photos
    os.makedirs(out, exist_ok=True)
    return pack_gaze_photos(make_rec.parse_args([
        "gaze_photos", str(folder), "--gaze", str(folder / "gaze.jsonl"), "--dataset", dataset, "--out", str(out),
        "--test_ratio", "0.3", "--val_ratio", "0", "-j", "1", "--encoding", "png", *extra]))


def records(prefix):
    meta = read_meta(prefix)
    ds = RecordDataset(prefix)
    out = []
    for i in range(len(ds)):
        img, lab = ds[i][:2]
        out.append((np.asarray(img.asnumpy() if hasattr(img, "asnumpy") else img), np.asarray(lab, np.float64)))
    return meta["_layout"], out


def true_view(folder, t, view):
    """The face's view cut with the renderer's true head pose (the synthetic writers' geometry)."""
    from recordio import imagefile
    img = imagefile.read(str(folder / t["image"]))
    h, w = img.shape[:2]
    K = geometry.camera_matrix(w, h)
    R = geometry.euler_to_matrix(t["pitch"], t["yaw"], t["roll"])
    return gazeviews.face_views(img, K, R, np.asarray(t["translation_mm"]), np.asarray(t["points21"]), "course21",
                                view), R


def test_the_normalised_faces_and_labels_match_those_cut_with_the_true_head_pose(rendered, tmp_path):
    folder, truth = rendered
    summary, rejects = pack(folder, tmp_path, "mpiifacegaze")
    said = [str(r) for rs in rejects.values() for r in rs]
    # the face without an answer is rejected, naming the label file and its line; so is any whose view leaves
    # the photo; every other face is written
    assert any("label.txt:%d" % min(truth) in s and "no answer" in s for s in said), said
    assert all("no answer" in s or "leaves the photo" in s for s in said), said
    assert sum(s["written"] for s in summary.values()) == len(truth) - len(said) >= 5
    seen, worst = 0, 0.0
    for split in summary:
        layout, recs = records(str(tmp_path / split))
        for img, lab in recs:
            t = truth[int(layout.get(lab[None], "line")[0])]
            (views, v), R = true_view(folder, t, MPIIFACEGAZE.view)
            # the label is the true gaze turned into the view of the true pose, within the pose fit's error
            want = geometry.unit(v.R_view @ np.asarray(t["gaze_vector"]))
            got = layout.get(lab[None], "gaze_vector")[0]
            assert geometry.angular_error_deg(got, want) < 2.0
            pitch_yaw = layout.get(lab[None], "gaze")[0]
            assert geometry.angular_error_deg(geometry.pitchyaw_to_vector(*pitch_yaw), got) < 1e-3
            head = geometry.pitchyaw_to_vector(*layout.get(lab[None], "head")[0])
            # the head label is the pose fitted to 21 points of the mean face (a rendered person's own face and
            # yaw up to 50 degrees here): within 10 degrees of the true head direction
            assert geometry.angular_error_deg(head, v.R_view @ R @ geometry.FORWARD) < 10.0
            # the same face in the same place: its eye and mouth corners in the stored view against where the
            # true pose's view puts them, and the pixels against that view's (shrunk as the network sees it)
            import cv2
            side = views["face"].shape[1]
            six = geometry.apply_homography(v.H, np.asarray(t["points21"])[list(gaze_point_indices("course21"))])
            six *= img.shape[1] / side
            moved = np.abs(layout.get(lab[None], "points")[0].reshape(6, 2) - six).max() / img.shape[1]
            assert moved < 0.05
            ref = cv2.resize(views["face"], img.shape[1::-1], interpolation=cv2.INTER_AREA).astype(np.float64)
            assert np.corrcoef(img.astype(np.float64).ravel(), ref.ravel())[0, 1] > 0.75
            worst = max(worst, moved)
            seen += 1
    assert seen == len(truth) - len(said)
    print("largest corner shift from the true pose's view: %.3f of the side" % worst)


def test_mc4_labels_compose_into_the_gaze_and_gaze360_repeats_a_still_photo(rendered, tmp_path):
    folder, truth = rendered
    summary, _ = pack(folder, tmp_path / "mc4", "mc4", "--head_size", "64", "--eye_size", "32")
    layout, recs = records(str(tmp_path / "mc4" / "train"))
    assert recs
    for img, lab in recs:
        head, eye, gaze = (layout.get(lab[None], k)[0] for k in ("head", "eye", "gaze"))
        assert geometry.angular_error_deg(geometry.mc4_compose_vector(head, eye),
                                          geometry.mc4_to_vector(*gaze)) < 1e-3
        t = truth[int(layout.get(lab[None], "line")[0])]
        (_, v), _ = true_view(folder, t, MC4.view)
        assert geometry.angular_error_deg(layout.get(lab[None], "gaze_vector")[0],
                                          v.R_view @ np.asarray(t["gaze_vector"])) < 2.0
    summary, _ = pack(folder, tmp_path / "g360", "gaze360", "--size", "32")
    layout, recs = records(str(tmp_path / "g360" / "train"))
    for img, lab in recs:
        frames = [img[:, 32 * k:32 * (k + 1)] for k in range(7)]
        assert all(np.array_equal(f, frames[3]) for f in frames)
        g = layout.get(lab[None], "gaze_vector")[0]
        assert geometry.angular_error_deg(GAZE360.to_vector(layout.get(lab[None], "gaze")[0]), g) < 1e-3


def test_bad_gaze_lines_and_faces_leaving_the_photo_are_rejected_by_file_and_line(rendered, tmp_path):
    folder, truth = rendered
    bad = tmp_path / "I"
    bad.mkdir()
    for f in os.listdir(folder):
        os.symlink(folder / f, bad / f)
    lines = open(folder / "gaze.jsonl").read().splitlines()
    os.remove(bad / "gaze.jsonl")
    lines[2] = "{not json"
    lines[3] = json.dumps({"line": json.loads(lines[3])["line"], "gaze_vector": [0, 0, 0]})
    (bad / "gaze.jsonl").write_text("\n".join(lines) + "\n")
    before, _ = pack(folder, tmp_path / "good", "mpiifacegaze")
    summary, rejects = pack(bad, tmp_path / "out", "mpiifacegaze")
    said = [str(r) for rs in rejects.values() for r in rs]
    assert any("gaze.jsonl:3" in s for s in said), said
    assert any("gaze.jsonl:4" in s and "non-zero" in s for s in said), said
    assert any("no gaze label for this face" in s for s in said), said
    lost = {json.loads(lines[k])["line"] if k == 3 else k + 1 for k in (2, 3)}  # label lines 3 and the 4th's
    assert sum(s["written"] for s in summary.values()) == sum(s["written"] for s in before.values()) - len(lost)
    # no view may take anything from outside the photo: every face touching an edge goes, with the reason
    summary, rejects = pack(folder, tmp_path / "strict", "mpiifacegaze", "--max_outside", "0")
    said = [str(r) for rs in rejects.values() for r in rs]
    left = [s for s in said if "leaves the photo" in s]
    assert left and all("label.txt:" in s for s in left)
