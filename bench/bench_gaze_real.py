"""Gaze exports on real faces held out from everything, through the photo path, against a real-data gaze model.

    python bench/bench_gaze_real.py [--model NAME=EXPORT_PREFIX ...] [--split test] [--json OUT.json]

The faces: the course21 recipe's test photos of ../shared/data/course21/I (seed 0, 20% of the photos; the
shipped landmark model, the box maps, the detector and the shipped gaze model never saw them; ``--split val``
for the validation photos gaze models are chosen on).  The reference: ``gaze_reference.jsonl`` beside the
label file, the ETH-XGaze ResNet-18's answer per face (a model's answer, not the truth: see the data README).

Each model runs as ``deploy/analyze.py PHOTO --gaze MODEL`` runs (``deploy.FaceAnalyzer``: the default photo
detector, the shipped landmark model, the head pose from its points, the model's view).  A reference face is
answered when a detected face matches its annotated box (IoU >= 0.5) and has a gaze answer.  Per model: the
share of the reference's faces answered, the mean and median angle between the answer and the reference, and
the mean pitch and yaw differences (answer minus reference, degrees; > 0: the model reads higher / more to
the photo's left).  Beside them, on every reference face of the split: two trivial answers, "looks into the
camera" (from the reference's face centre to the camera) and "the mean direction" of the training photos'
reference answers.  Without ``--model``: the shipped gaze model.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from recordio.devices import use_all_cores  # noqa: E402

use_all_cores()  # before MXNet loads: it reads OMP_NUM_THREADS once

import numpy as np  # noqa: E402

from bench.common import SHARED_COURSE21, in_split, recipe_photos  # noqa: E402
from recordio import geometry, imagefile  # noqa: E402

MATCH_IOU = 0.5


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=SHARED_COURSE21, help="a course folder with label.txt and gaze_reference.jsonl")
    ap.add_argument("--model", action="append", default=[], help="NAME=EXPORT_PREFIX (repeat to compare)")
    ap.add_argument("--split", default="test", choices=("test", "val", "train", "all"),
                    help="which photos of the recipe's split (seed 0, test 0.2, val 0.1)")
    ap.add_argument("--detector", help="as analyze.py --detector (default: analyze.py's for photos)")
    ap.add_argument("--json", help="write the figures here too")
    return ap.parse_args(argv)


def reference(data):
    """{label line: (reference gaze vector, reference face centre mm)} of the faces with an answer."""
    from tools.packers.gaze_photos import read_gaze_labels
    answers, errors = read_gaze_labels(os.path.join(data, "gaze_reference.jsonl"))
    if errors:
        raise SystemExit("error: %s" % errors[0])
    return {n: (g, np.asarray(rec["face_centre_mm"], np.float64)) for n, (_, g, rec) in answers.items()
            if g is not None}


def angles(v):
    """(pitch, yaw) in degrees of camera-frame vectors (N, 3), as analyze.py reports them."""
    return np.degrees(geometry.vector_to_pitchyaw(np.asarray(v, np.float64)))


def score(answers, truths):
    """Figures of answers (N, 3) against reference vectors (N, 3)."""
    if not len(answers):
        return {"faces": 0}
    err = geometry.angular_error_deg(np.asarray(answers), np.asarray(truths))
    d = angles(answers) - angles(truths)
    d[:, 1] = (d[:, 1] + 180) % 360 - 180
    return {"faces": int(len(err)), "mean_deg": round(float(np.mean(err)), 2),
            "median_deg": round(float(np.median(err)), 2), "pitch_bias_deg": round(float(d[:, 0].mean()), 2),
            "yaw_bias_deg": round(float(d[:, 1].mean()), 2)}


def run_models(prefixes, photos, ref, detector=None):
    """Per export of ``prefixes``: answers {label line: vector} over ``photos``.  The faces are found once (the
    default photo detector and the shipped landmark model do not depend on the gaze model); each gaze model
    then answers them by ``FaceAnalyzer.photo_gaze``, as ``FaceAnalyzer.photo`` does with it."""
    from deploy import FaceAnalyzer
    from deploy.gaze import GazeModel
    from tqdm import tqdm
    an = FaceAnalyzer(**({"detector": detector} if detector else {}))
    models = [GazeModel(p) for p in prefixes]
    for m in models:
        m.check_schema(an.schema)
    out = [{} for _ in prefixes]
    for p, es in tqdm(photos.items(), desc="photos", unit="photo"):
        image = imagefile.read(p)
        faces = an.photo(image, source=p)
        if not faces:
            continue
        truth = np.array([e.box for e in es], np.float64)
        matches = geometry.match_boxes(np.array([f.box for f in faces], np.float64), truth, MATCH_IOU)
        for model, got in zip(models, out):
            answers = an.photo_gaze(image, [{} for _ in faces], [(f.model_points, f.pose_rt) for f in faces], model)
            for i, j, _ in matches:
                if answers[i] and es[j].line in ref:
                    got[es[j].line] = np.asarray(answers[i]["vector"], np.float64)
    return out


def main(argv=None):
    args = parse_args(argv)
    for f in ("label.txt", "gaze_reference.jsonl"):
        if not os.path.isfile(os.path.join(args.data, f)):
            raise SystemExit("error: %s has no %s (the course photos are in ../shared/data/course21/I)"
                             % (args.data, f))
    models = [m.split("=", 1) if "=" in m else (os.path.basename(os.path.dirname(m)) or m, m) for m in args.model]
    if not models:
        from deploy.analyzer import SHIPPED_GAZE
        models = [("shipped", SHIPPED_GAZE)]
    ref = reference(args.data)
    by_photo, splits = recipe_photos(args.data)
    photos = in_split(by_photo, splits, args.split)
    lines = [e.line for es in photos.values() for e in es if e.line in ref]
    truth = {n: ref[n][0] for n in lines}
    train_lines = [e.line for p, es in by_photo.items() for e in es if splits[p] == "train" and e.line in ref]
    mean_dir = geometry.unit(np.mean([ref[n][0] for n in train_lines], 0))
    print("%d %s photos of %s: %d faces with a reference answer" % (len(photos), args.split, args.data, len(lines)))
    rows = {}
    for (name, _), got in zip(models, run_models([p for _, p in models], photos, ref, args.detector)):
        done = [n for n in lines if n in got]
        r = score([got[n] for n in done], [truth[n] for n in done])
        r["answered"] = round(len(done) / max(1, len(lines)), 4)
        rows[name] = r
    trivial = {"looks into the camera": {n: geometry.unit(-ref[n][1]) for n in lines},
               "the mean direction (training photos)": {n: mean_dir for n in lines}}
    for name, ans in trivial.items():
        r = score([ans[n] for n in lines], [truth[n] for n in lines])
        r["answered"] = 1.0
        rows[name] = r
    print("\n| %s faces (%d) | answered | mean | median | pitch bias | yaw bias |" % (args.split, len(lines)))
    print("| --- | --- | --- | --- | --- | --- |")
    for name, r in rows.items():
        if not r.get("faces"):
            print("| %s | 0%% | - | - | - | - |" % name)
            continue
        print("| %s | %.1f%% | %.2f deg | %.2f deg | %+.2f deg | %+.2f deg |"
              % (name, 100 * r["answered"], r["mean_deg"], r["median_deg"], r["pitch_bias_deg"], r["yaw_bias_deg"]))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"split": args.split, "data": os.path.abspath(args.data), "faces": len(lines),
                       "models": dict(models), "rows": rows}, fh, indent=1)
    return rows


if __name__ == "__main__":
    from recordio.cli import run
    run(main)
