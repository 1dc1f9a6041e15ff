"""Score an exported model on an archive: a summary JSON and a per-face CSV.

NME, FR@0.1 and AUC@0.1 are computed in original-photo pixels (each record's
crop affine maps predictions and ground truth back), exactly as training's
validation does; face/non-face accuracy is reported on positives and
negatives separately.  ``--baseline_train`` adds a mean-shape predictor (the
mean training shape in crop coordinates) scored on the same faces.

    python deploy/score.py --model runs/c21/model --archive out/c21/test --out runs/c21/score \\
        [--baseline_train out/c21/train] [--mkldnn]
"""
import argparse
import csv
import json
import os
import sys

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from recordio import geometry, metrics  # noqa: E402
from recordio.dataset import ArchiveReader  # noqa: E402
from recordio.schema import get_schema  # noqa: E402
from recordio.transforms import LandmarkTransform  # noqa: E402


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="export prefix, e.g. RUN_DIR/model")
    ap.add_argument("--archive", required=True)
    ap.add_argument("--out", required=True, help="folder for summary.json and per_face.csv")
    ap.add_argument("--batch_size", type=int, default=64)
    ap.add_argument("--mkldnn", action="store_true", help="use the MKLDNN subgraph backend (CPU)")
    ap.add_argument("--baseline_train", help="training archive for the mean-shape baseline")
    return ap.parse_args(argv)


def mean_shape(train_prefix, schema):
    """Mean landmark shape of the faces of an archive, as shares of the crop side (K, 2)."""
    r = ArchiveReader(train_prefix)
    L = r.layout
    size = np.array([r.meta["image"]["width"], r.meta["image"]["height"]], float)
    shapes = []
    for i in range(len(r)):
        lab = r.read(i, decode=False)[1]
        if L.get(lab, "face")[0] > 0.5:
            shapes.append(L.get(lab, "points").reshape(-1, 2) / size)
    return np.mean(shapes, axis=0)


def score_landmarks(predictor, reader, batch_size=64, baseline=None):
    """Per-face rows and the summary for a landmark archive."""
    L = reader.layout
    schema = get_schema(reader.meta["schema"])
    tf = LandmarkTransform(schema, predictor.size, predictor.channels, train=False)
    preds, probs, labels = [], [], []
    batch, batch_labels = [], []

    def flush():
        out = predictor(np.stack(batch))
        preds.append(out["landmarks"])
        probs.append(out.get("face_prob", np.full(len(batch), np.nan)))
        labels.extend(batch_labels)
        batch.clear()
        batch_labels.clear()

    for i in tqdm(range(len(reader)), desc="scoring", unit="face", mininterval=0.5):
        img, lab = reader.read(i)
        data, lab = tf(img if img.ndim == 3 else img[:, :, None], lab)
        batch.append(data)
        batch_labels.append(lab)
        if len(batch) == batch_size:
            flush()
    if batch:
        flush()
    pred = np.concatenate(preds)
    prob = np.concatenate(probs)
    labels = np.stack(labels)
    face = L.get(labels, "face")[:, 0] > 0.5
    A = L.get(labels, "affine")
    gt = L.get(labels, "points").reshape(len(labels), -1, 2)
    nmes = np.full(len(labels), np.nan)
    nmes[face] = metrics.nme(geometry.apply_affines(A[face], pred[face]), geometry.apply_affines(A[face], gt[face]),
                             schema)
    summary = {"archive": reader.rec_path, "faces": int(face.sum()), "non_faces": int((~face).sum())}
    summary.update(metrics.landmark_report(nmes[face], L.get(labels[face], "attributes")
                                           if reader.meta.get("source_format") == "wflw" else None))
    if not np.isnan(prob).all():
        summary["face_classification"] = metrics.classification_report(prob > 0.5, face)
    if baseline is not None:
        base = np.repeat((baseline * predictor.size)[None], int(face.sum()), axis=0)
        b = metrics.nme(geometry.apply_affines(A[face], base), geometry.apply_affines(A[face], gt[face]), schema)
        summary["mean_shape_baseline"] = metrics.landmark_report(b)
    rows = []
    for i in range(len(labels)):
        src = (reader.meta.get("sources") or [None] * len(labels))[int(reader.keys[i])] or {}
        rows.append({"key": int(reader.keys[i]), "image": src.get("image", ""), "line": src.get("line", ""),
                     "face": int(face[i]), "nme": "" if np.isnan(nmes[i]) else "%.6f" % nmes[i],
                     "face_prob": "" if np.isnan(prob[i]) else "%.4f" % prob[i]})
    return summary, rows


def main(argv=None):
    args = parse_args(argv)
    from deploy.predictor import Predictor
    predictor = Predictor(args.model, mkldnn=args.mkldnn)
    reader = ArchiveReader(args.archive)
    if predictor.meta["task"] != "landmarks" or reader.meta["task"] != "landmarks":
        raise SystemExit("error: %s is a %s model and %s a %s archive; score.py scores landmarks here"
                         % (args.model, predictor.meta["task"], args.archive, reader.meta["task"]))
    baseline = mean_shape(args.baseline_train, get_schema(reader.meta["schema"])) if args.baseline_train else None
    summary, rows = score_landmarks(predictor, reader, args.batch_size, baseline)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    with open(os.path.join(args.out, "per_face.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["key"])
        w.writeheader()
        w.writerows(rows)
    print(json.dumps(summary, indent=1))
    return summary


if __name__ == "__main__":
    main()
