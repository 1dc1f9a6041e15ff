"""Score an exported model on an archive: a summary JSON and a per-face CSV (landmarks and gaze).

NME, FR@0.1 and AUC@0.1 are computed in original-photo pixels (each record's
crop affine maps predictions and ground truth back), exactly as training's
validation does; face/non-face accuracy is reported on positives and
negatives separately.  ``--baseline_train`` adds a mean-shape predictor (the
mean training shape in crop coordinates) scored on the same faces.

    python deploy/score.py --model runs/c21/model --archive out/c21/test --out runs/c21/score \\
        [--baseline_train out/c21/train] [--mkldnn]
    python deploy/score.py --model runs/mc4/model --archive out/mc4/test --out runs/mc4/score \\
        --submission runs/mc4/submission.txt

Gaze: mean and median angular error (MC4 also head and eye errors; Gaze360 also front 180 degrees,
front-facing and the 10-90% interval coverage); ``--baseline_train`` adds the mean-gaze predictor.
For an MC4 archive ``--submission`` writes the competition file: per image its name, lo and la with
3 decimals, 3 lines per record like the label files.
"""
import argparse
import csv
import json
import os
import sys

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from recordio.devices import use_all_cores  # noqa: E402

use_all_cores()  # before MXNet loads: it reads OMP_NUM_THREADS once

import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from recordio import devices, geometry, labelfiles, metrics  # noqa: E402
from recordio.dataset import ArchiveReader, mean_shape  # noqa: E402
from recordio.schema import GAZE_DATASETS, MC4, archive_tiles, gaze_dataset, get_schema  # noqa: E402
from recordio.transforms import GazeTransform, LandmarkTransform  # noqa: E402
from deploy.predictor import add_backend_args, backend_kwargs  # noqa: E402


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="export prefix, e.g. RUN_DIR/model")
    ap.add_argument("--archive", required=True)
    ap.add_argument("--out", required=True, help="folder for summary.json and per_face.csv")
    ap.add_argument("--batch_size", type=int, default=64)
    ap.add_argument("--flip", action="store_true", help="landmarks: average with the mirrored crop's prediction")
    ap.add_argument("--face_threshold", type=float, default=0.5,
                    help="stage-3 models: a crop whose face_score is below this is judged non-face and gets no points; "
                         "its face then counts as a failure (NME inf)")
    ap.add_argument("--keep_nonfaces", action="store_true", help="stage-3 models: score the points of every face")
    ap.add_argument("--mkldnn", action="store_true", help="the same as --backend mkldnn")
    add_backend_args(ap)
    ap.add_argument("--gpu_ids", default="", help="e.g. 0,1; empty = CPU (batches are split across the devices)")
    ap.add_argument("--baseline_train", help="training archive for the mean-shape / mean-gaze baseline")
    ap.add_argument("--submission", help="MC4: write the submission file (name, lo, la per image) here")
    return ap.parse_args(argv)


def run_batches(reader, transform, predict, batch_size):
    """Every record of ``reader`` through ``transform`` and ``predict`` in batches.

    Returns (list of output arrays, one per network output; labels (N, width)).
    """
    outs, labels, batch = [], [], []

    def flush():
        outs.append(predict(np.stack(batch)))
        batch.clear()

    for i in tqdm(range(len(reader)), desc="scoring", unit="record", mininterval=0.5):
        img, lab = reader.read(i)
        data, lab = transform(img if img.ndim == 3 else img[:, :, None], lab)
        batch.append(data)
        labels.append(lab)
        if len(batch) == batch_size:
            flush()
    if batch:
        flush()
    if not labels:  # an empty archive (e.g. an attribute subset with no face): nothing to score
        return None, np.zeros((0, reader.layout.width), np.float32)
    return [np.concatenate([o[k] for o in outs]) for k in range(len(outs[0]))], np.stack(labels)


def score_landmarks(predictor, reader, batch_size=64, baseline=None, face_threshold=None):
    """Per-face rows and the summary for a landmark archive.

    ``face_threshold`` (stage-3 models): faces whose face_score is below it get no points, as the course's
    stage 3 answers, and count as failures (``metrics.UNANSWERED``); None scores every face's points.
    """
    L = reader.layout
    schema = get_schema(reader.meta["schema"])
    tf = LandmarkTransform(schema, predictor.size, predictor.channels, train=False)
    outs, labels = run_batches(reader, tf, predictor.raw, batch_size)
    if outs is None:
        return {"archive": reader.rec_path, "faces": 0, "non_faces": 0, "count": 0}, []
    pred = outs[0].reshape(len(labels), -1, 2) * predictor.size
    prob = outs[1][:, 1] if len(outs) > 1 else np.full(len(labels), np.nan)
    face = L.get(labels, "face")[:, 0] > 0.5
    A = L.get(labels, "affine")
    gt = L.get(labels, "points").reshape(len(labels), -1, 2)
    nmes = np.full(len(labels), np.nan)
    nmes[face] = metrics.nme(geometry.apply_affines(A[face], pred[face]), geometry.apply_affines(A[face], gt[face]),
                             schema)
    yaw = L.get(labels, "euler")[:, 1]
    gated = face_threshold is not None and not np.isnan(prob).all()
    answered = prob >= face_threshold if gated else np.ones(len(labels), bool)
    scored = np.where(answered, nmes, metrics.UNANSWERED)
    summary = {"archive": reader.rec_path, "faces": int(face.sum()), "non_faces": int((~face).sum()),
               "face_threshold": face_threshold if gated else None}
    summary.update(metrics.landmark_report(scored[face], L.get(labels[face], "attributes")
                                           if reader.meta.get("source_format") == "wflw" else None))
    photo_pred, photo_gt = geometry.apply_affines(A[face], pred[face]), geometry.apply_affines(A[face], gt[face])
    box_nmes = metrics.box_nme(photo_pred, photo_gt, L.get(labels[face], "box"))
    summary["box_nme"] = float(box_nmes[np.isfinite(scored[face])].mean()) if np.isfinite(scored[face]).any() \
        else float("nan")
    summary["breakdown"] = metrics.landmark_breakdown(scored[face], L.get(labels[face], "euler"),
                                                      L.get(labels[face], "box"), box_nmes)
    if gated:
        summary["non_faces_answered"] = int((answered & ~face).sum())  # non-face crops given points
    if not np.isnan(prob).all():
        summary["face_classification"] = metrics.classification_report(prob >= (face_threshold or 0.5), face)
    if baseline is not None:
        base = np.repeat((baseline * predictor.size)[None], int(face.sum()), axis=0)
        b = metrics.nme(geometry.apply_affines(A[face], base), geometry.apply_affines(A[face], gt[face]), schema)
        summary["mean_shape_baseline"] = metrics.landmark_report(b)
    rows = []
    for i in range(len(labels)):
        src = (reader.meta.get("sources") or [None] * len(labels))[int(reader.keys[i])] or {}
        rows.append({"key": int(reader.keys[i]), "image": src.get("image", ""), "line": src.get("line", ""),
                     "face": int(face[i]), "nme": "" if np.isnan(nmes[i]) else "%.6f" % nmes[i],
                     "face_score": "" if np.isnan(prob[i]) else "%.6f" % prob[i], "answered": int(answered[i]),
                     "yaw": "%.1f" % yaw[i], "box_width": "%.1f" % (L.get(labels[i], "box") @ [-1, 0, 1, 0])})
    return summary, rows


def score_gaze(predictor, reader, batch_size=64, baseline_train=None):
    """Outputs per record and the summary for a gaze archive."""
    ds = gaze_dataset(reader.meta["task"])
    if predictor.meta.get("dataset") != ds.name:
        raise SystemExit("error: the model was trained on %s data, %s holds %s"
                         % (predictor.meta.get("dataset"), reader.rec_path, ds.name))
    tf = GazeTransform(ds, reader.layout, archive_tiles(reader.meta), predictor.meta["input"]["tiles"],
                       predictor.channels, train=False)
    outputs, labels = run_batches(reader, tf, predictor.raw, batch_size)
    summary = {"archive": reader.rec_path, "dataset": ds.name, "samples": len(labels)}
    if outputs is None:
        return summary, [np.zeros((0,) + tuple(o["shape"])) for o in predictor.meta["outputs"]], labels
    summary.update(metrics.gaze_report(ds, outputs, labels, reader.layout))
    if baseline_train:
        train = ArchiveReader(baseline_train)
        vecs = np.stack([train.layout.get(train.read(i, decode=False)[1], "gaze_vector") for i in range(len(train))])
        mean = vecs.mean(0) / np.linalg.norm(vecs.mean(0))
        labelled = reader.layout.get(labels, "has_label")[:, 0] > 0.5
        err = metrics.angular_errors(np.tile(mean, (int(labelled.sum()), 1)),
                                     reader.layout.get(labels[labelled], "gaze_vector"))
        summary["mean_gaze_baseline"] = metrics.angular_report(err)
    return summary, outputs, labels


def write_submission(path, reader, outputs):
    """MC4 submission: per image its name, lo, la (degrees, 3 decimals), 3 lines per record."""
    names = [s["image"] for s in reader.meta["sources"]]
    rows = [(names[int(k)], float(lo), float(la)) for k, (lo, la) in zip(reader.keys, MC4.output_angles(outputs))]
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write(labelfiles.format_mc4_labels(rows))
    return rows


def main(argv=None):
    args = parse_args(argv)
    from deploy.predictor import Predictor
    predictor = Predictor(args.model, ctx=devices.contexts(args.gpu_ids), flip=args.flip,
                          **backend_kwargs(args, args.model))
    reader = ArchiveReader(args.archive)
    task = predictor.meta["task"]
    if task == "gaze" and reader.meta["task"] in {d.task for d in GAZE_DATASETS.values()}:
        summary, outputs, labels = score_gaze(predictor, reader, args.batch_size, args.baseline_train)
        vectors = gaze_dataset(summary["dataset"]).output_vectors(outputs)
        rows = [{"key": int(k), "image": (reader.meta.get("sources") or [{}] * len(labels))[int(k)].get("image", ""),
                 "pred_x": "%.5f" % v[0], "pred_y": "%.5f" % v[1], "pred_z": "%.5f" % v[2]}
                for k, v in zip(reader.keys, vectors)]
        if args.submission:
            if summary["dataset"] != MC4.name:
                raise SystemExit("error: --submission is for MC4 archives")
            write_submission(args.submission, reader, outputs)
            summary["submission"] = os.path.abspath(args.submission)
    elif task == "landmarks" and reader.meta["task"] == "landmarks":
        baseline = mean_shape(ArchiveReader(args.baseline_train)) if args.baseline_train else None
        summary, rows = score_landmarks(predictor, reader, args.batch_size, baseline,
                                        None if args.keep_nonfaces else args.face_threshold)
    else:
        raise SystemExit("error: %s is a %s model and %s a %s archive" % (args.model, task, args.archive,
                                                                          reader.meta["task"]))
    summary["backend"] = predictor.backend
    if predictor.timings:
        summary["backend_timings_ms"] = predictor.timings
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    with open(os.path.join(args.out, "per_face.csv" if task == "landmarks" else "per_sample.csv"), "w",
              newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["key"])
        w.writeheader()
        w.writerows(rows)
    print(json.dumps(summary, indent=1))
    return summary


if __name__ == "__main__":
    from recordio.cli import run
    run(main)
