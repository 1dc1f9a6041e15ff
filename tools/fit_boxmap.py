"""Fit a face detector's box map: from the boxes it gives to the boxes the course's annotators draw.

    python tools/fit_boxmap.py haar ../shared/data/course21/I --photos_from out/c21/rec/train
    python tools/fit_boxmap.py dlib ../shared/data/course21/I --photos_from out/c21/rec/train
    python tools/fit_boxmap.py points ../shared/data/course21/I --photos_from out/c21/rec/train

Runs the detector on the photos of a course folder (only those of ``--photos_from``, a packed archive's
photos: fit on the training photos, measure on the others), matches its boxes to the annotated ones,
fits ``geometry.fit_box_map`` (median centre offset and size ratio; matched first at IoU >= 0.3 with the
raw boxes, then again at 0.5 with the map applied, and refitted) and records the map with its fit
statistics in ``deploy/detectors/boxmaps.json`` under the backend's name, where ``deploy/detect.py``
finds it.  ``points`` runs no detector: it fits the map from the annotated points' tight box to the annotated
box (stored as ``points:course21``), by which analyze.py re-crops a photo's face from the landmark model's
first answer (``deploy/detect.py refit_boxes``).
"""
import argparse
import json
import os
import sys
import time

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from recordio import geometry, imagefile, labelfiles  # noqa: E402

FIRST_MATCH_IOU = 0.3  # raw detector boxes can sit far from the annotated ones before the map
MATCH_IOU = 0.5
IDENTITY = (0.0, 0.0, 1.0, 1.0)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("backend", choices=("haar", "dlib", "mtcnn", "yunet", "mxnet", "points"))
    ap.add_argument("dirs", nargs="+", help="course folders with label.txt and the photos")
    ap.add_argument("--photos_from", help="a packed archive (e.g. the training split): fit on its photos only")
    ap.add_argument("--yunet", help="yunet: its .onnx file")
    ap.add_argument("--mxnet", help="mxnet: the detector's export prefix")
    ap.add_argument("--out", default=None, help="box map file to update (default: deploy/detectors/boxmaps.json)")
    return ap.parse_args(argv)


def annotated_photos(dirs, photos_from=None, points=False):
    """{photo path: annotated boxes (N, 4)} of course folders, restricted to an archive's photos if given
    (``points``: {photo path: [(box, points), ...]})."""
    keep = None
    if photos_from:
        from recordio.dataset import ArchiveReader
        keep = {s["image"] for s in ArchiveReader(photos_from).meta["sources"] if s}
    out = {}
    for d in dirs:
        entries, _ = labelfiles.read_course21(os.path.join(d, "label.txt"))
        for e in entries:
            if keep is None or e.image in keep:
                out.setdefault(os.path.join(d, e.image), []).append((e.box, e.points) if points else e.box)
    return {p: b if points else np.array(b) for p, b in sorted(out.items())}


def fit_points(photos):
    """The map from the annotated points' tight box to the annotated box ({path: [(box, points), ...]})."""
    faces = [f for fs in photos.values() for f in fs]
    tight = np.array([geometry.points_box(np.asarray(p, np.float64)[:, :2]) for _, p in faces])
    boxes = np.array([b for b, _ in faces], np.float64)
    box_map = geometry.fit_box_map(tight, boxes)
    iou = np.diag(geometry.box_iou(geometry.map_box(tight, box_map), boxes))
    return {"map": [round(v, 5) for v in box_map], "photos": len(photos), "faces": len(faces),
            "mean_iou_mapped": float(iou.mean()), "iou50_mapped": float((iou >= MATCH_IOU).mean())}


def fit(detector, photos):
    """Fit ``detector``'s box map on ``photos`` ({path: annotated boxes}); returns the record to store."""
    raw, truth = [], []
    start = time.time()
    for path, boxes in tqdm(photos.items(), desc="detecting", unit="photo", mininterval=0.5):
        try:
            img = imagefile.read(path)
        except imagefile.ImageProblem:
            continue
        found = detector.raw(img)[0]
        raw.append(np.asarray(found, np.float64).reshape(-1, 4))
        truth.append(boxes)
    took = time.time() - start

    def matched(box_map, min_iou):
        d, a, ious = [], [], []
        for r, t in zip(raw, truth):
            shown = geometry.map_box(r, box_map) if box_map is not None and len(r) else r
            for i, j, iou in geometry.match_boxes(shown, t, min_iou):
                d.append(r[i])
                a.append(t[j])
                ious.append(iou)
        return np.array(d).reshape(-1, 4), np.array(a).reshape(-1, 4), np.array(ious)

    d, a, _ = matched(None, FIRST_MATCH_IOU)
    box_map = geometry.fit_box_map(d, a) if len(d) else IDENTITY  # a detector that finds nothing keeps its boxes
    d, a, _ = matched(box_map, MATCH_IOU)
    box_map = geometry.fit_box_map(d, a) if len(d) else box_map
    _, _, before = matched(None, MATCH_IOU)
    d, _, after = matched(box_map, MATCH_IOU)
    faces = sum(len(t) for t in truth)
    return {"map": [round(v, 5) for v in box_map], "photos": len(truth), "faces": faces, "matched": len(d),
            "recall_iou50_raw": len(before) / max(faces, 1), "recall_iou50_mapped": len(after) / max(faces, 1),
            "mean_iou_mapped": float(after.mean()) if len(after) else 0.0, "ms_per_photo": 1000 * took / max(len(raw), 1)}


def main(argv=None):
    args = parse_args(argv)
    from deploy.detect import BOXMAPS, POINTS_MAP, make_detector
    photos = annotated_photos(args.dirs, args.photos_from, points=args.backend == "points")
    if not photos:
        raise SystemExit("error: no annotated photo to fit on")
    if args.backend == "points":
        record, key = fit_points(photos), POINTS_MAP % "course21"
    else:
        detector = make_detector(args.backend, yunet=args.yunet, mxnet=args.mxnet, box_map=(0.0, 0.0, 1.0, 1.0))
        record, key = fit(detector, photos), args.backend
    record["fitted_on"] = "%d photos of %s%s" % (record["photos"], ", ".join(os.path.basename(os.path.normpath(d))
                                                                             for d in args.dirs),
                                                 " (the photos of %s)" % args.photos_from if args.photos_from else "")
    path = args.out or BOXMAPS
    maps = {}
    if os.path.exists(path):
        with open(path) as f:
            maps = json.load(f)
    maps[key] = record
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(maps, f, indent=1, sort_keys=True)
    print(json.dumps(record, indent=1))
    return record


if __name__ == "__main__":
    from recordio.cli import run
    run(main)
