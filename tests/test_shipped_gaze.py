"""The shipped gaze model (deploy/models/gaze): what analyze.py --gaze with no path runs, what its provenance
says, and per-person calibration on it unchanged."""
import json
import os
import re

import numpy as np

from conftest import shared_path
from deploy.analyzer import SHIPPED_GAZE

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ASTRONAUT = os.path.join(ROOT, "deploy", "samples", "astronaut.jpg")


def _angle(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return np.degrees(np.arccos(np.clip(a @ b / np.linalg.norm(a) / np.linalg.norm(b), -1, 1)))


def test_the_shipped_gaze_model_says_what_it_learnt_from_and_its_licence():
    from recordio.schema import file_sha256
    meta = json.load(open(SHIPPED_GAZE + "-meta.json"))
    assert meta["task"] == "gaze" and meta["params_sha256"] == file_sha256(SHIPPED_GAZE + "-0000.params")
    assert os.path.getsize(SHIPPED_GAZE + "-0000.params") <= 20e6  # the bound on shipped weights
    prov = json.load(open(os.path.join(os.path.dirname(SHIPPED_GAZE), "provenance.json")))
    assert "non-commercial" in prov["licence"] and "gaze_reference.jsonl" in prov["data"]
    assert prov["recipe"].startswith("train/recipes/course21_gaze.sh") and prov["commit"]
    rows = prov["scores_real_faces_test"]["rows"]
    assert {"course21_gaze", "looks into the camera", "the mean direction (training photos)"} <= set(rows)
    assert rows["course21_gaze"]["faces"] > 250  # scored on the held-out test photos of course21/I


def test_analyze_with_gaze_and_no_path_uses_the_shipped_model_on_a_face_that_looks_into_the_camera(tmp_path):
    from deploy import analyze
    out = tmp_path / "a"
    analyze.main([ASTRONAUT, "--gaze", "--out", str(out)])  # --gaze last, without a value: the shipped model
    rows = [json.loads(line) for line in open(out / "results.jsonl")]
    assert len(rows) == 1 and "gaze" in rows[0]
    summary = json.load(open(out / "summary.json"))
    assert summary["gaze"]["export"] == SHIPPED_GAZE and "landmark_gaze" in summary["gaze"]["model"]
    # NASA's portrait: she looks into the lens, so the gaze points from her face centre back at the camera; the
    # teacher reads people who look into the camera about 13 degrees low (the data README), and so does this model
    gaze = rows[0]["gaze"]
    assert _angle(gaze["vector"], -np.asarray(gaze["origin_mm"])) < 20


def test_per_person_calibration_works_on_the_shipped_model(tmp_path, capsys):
    """calibrate_gaze.py, unchanged, on the shipped model's answers for 8 held-out real faces (one per photo),
    with the reference's answers as the targets: an affine fit that analyze.py then applies."""
    from bench.common import in_split, recipe_photos
    from deploy import analyze, calibrate_gaze
    data = shared_path("course21", "I")
    by_photo, splits = recipe_photos(data)
    ref = {}
    with open(os.path.join(data, "gaze_reference.jsonl")) as f:
        for line in f:
            r = json.loads(line)
            ref[r["line"]] = r
    single = [(p, es[0]) for p, es in in_split(by_photo, splits, "test").items()
              if len(es) == 1 and ref[es[0].line]["found"] and es[0].box[2] - es[0].box[0] > 80][:8]
    assert len(single) == 8
    photos = tmp_path / "photos"
    photos.mkdir()
    for p, _ in single:
        os.symlink(p, photos / os.path.basename(p))
    out = tmp_path / "calib"
    analyze.main([str(photos), "--gaze", SHIPPED_GAZE, "--out", str(out)])
    targets = tmp_path / "targets.txt"
    targets.write_text("".join("%s - %.3f %.3f\n" % (os.path.basename(p), ref[e.line]["pitch_deg"],
                                                     ref[e.line]["yaw_deg"]) for p, e in single))
    cal = calibrate_gaze.main([str(out / "results.jsonl"), str(targets), "--out", str(tmp_path / "me.json")])
    printed = capsys.readouterr().out
    assert cal.kind == "affine" and "8 targets (0 skipped)" in printed
    before, after = (float(x) for x in re.search(r"mean error ([0-9.]+) deg before, ([0-9.]+) after", printed).groups())
    assert after < before  # the fit moves the answers towards the targets it was fitted on
    again = tmp_path / "again"
    analyze.main([str(photos), "--gaze", SHIPPED_GAZE, "--calibration", str(tmp_path / "me.json"), "--out",
                  str(again)])
    rows = [json.loads(line) for line in open(again / "results.jsonl")]
    assert all("uncalibrated" in r["gaze"] for r in rows if "gaze" in r)
