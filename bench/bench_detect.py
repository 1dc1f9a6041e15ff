"""Face detectors on the course photos: recall, false detections and speed per backend, and the landmark model
end to end on detected boxes beside the same model on the annotated boxes.

    python bench/bench_detect.py [--backends haar,dlib,mxnet] [--landmarks MODEL] [--yunet face.onnx]

The photos are the course21 recipe's test photos of ../shared/data/course21/I (seed 0, 20% of the photos;
the box maps were fitted on its training photos, the detector trained on them). Per backend: recall at
IoU >= 0.5 against the annotated boxes after the box map; then as analyze.py answers on photos: each box
re-made from the landmark model's points in the annotators' convention and looked at again
(``deploy/analyze.py look``; ``--no_refit``: the detector's box alone), detections the stage-3 model judges
non-face dropped; false detections per photo before and after; ms per photo for detection alone.  End to
end, every annotated face gets the landmark model's points from the detection that found it, or counts as
a failure (NME infinite) when none did; the first row scores the same model on the annotated boxes.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from recordio.devices import use_all_cores  # noqa: E402

use_all_cores()  # before MXNet loads: it reads OMP_NUM_THREADS once

import numpy as np  # noqa: E402

from bench.common import SHARED_COURSE21, in_split, recipe_photos  # noqa: E402
from recordio import geometry, imagefile, metrics  # noqa: E402

MATCH_IOU = 0.5


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=SHARED_COURSE21, help="a course folder with label.txt")
    ap.add_argument("--backends", default="haar,dlib,dlib+haar,mtcnn,mtcnn+dlib,mxnet",
                    help="comma-separated detectors to measure (as analyze.py --detector names them, e.g. mtcnn@35)")
    ap.add_argument("--landmarks", help="stage-3 landmark export (default: the shipped model)")
    ap.add_argument("--yunet", help="YuNet .onnx file (adds the yunet backend)")
    ap.add_argument("--mxnet_detector", help="detector export prefix (default: the shipped detector)")
    ap.add_argument("--face_threshold", type=float, default=0.5)
    ap.add_argument("--split", default="test", choices=("test", "val", "train", "all"),
                    help="which photos of the recipe's split (seed 0, test 0.2, val 0.1)")
    ap.add_argument("--flip", action="store_true", help="flip-average the landmark model (as the recipe scores)")
    ap.add_argument("--no_upright", action="store_true", help="one pass of the landmark model, no rolled face turned "
                                                                 "upright (deploy/predictor.py UPRIGHT_DEG)")
    ap.add_argument("--no_refit", action="store_true", help="landmarks from the detector's boxes only (analyze.py "
                                                               "--no_refit), not from boxes re-made from the points")
    ap.add_argument("--no_speed", action="store_true",
                    help="skip the photo path's speed against dlib's HOG detector alone (the last table)")
    return ap.parse_args(argv)


def photo_path_speed(images):
    """ms per photo, each photo timed three ways in turn (the same load on the machine for each): dlib's HOG
    detector alone (the grey photo, upsampled once), analyze.py's default photo path (``FaceAnalyzer().photo``:
    detector, landmarks, second look, stage-3 filter, pose) on --backend auto, and the same on MXNet alone."""
    import cv2
    import dlib

    from deploy import FaceAnalyzer
    hog = dlib.get_frontal_face_detector()
    ways = {"dlib HOG detector alone (grey, 1 upsampling)": lambda img: hog(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), 1)}
    for backend in ("auto", "mxnet"):
        an = FaceAnalyzer(backend=backend)
        ways["photo path, --backend %s" % backend] = an.photo
    took = {name: 0.0 for name in ways}
    for img in images:
        for name, way in ways.items():
            start = time.perf_counter()
            way(img)
            took[name] += time.perf_counter() - start
    return {name: 1000 * t / len(images) for name, t in took.items()}


def annotated(data, split):
    """{photo path: list of FaceEntry} of the chosen split."""
    return in_split(*recipe_photos(data), split)


def landmark_nmes(points, truths, schema):
    """NMEs of the model's points (K, 2) each against ``truths`` (K, 2) each."""
    return list(metrics.nme(np.stack(points), np.stack(truths), schema)) if len(points) else []


def main(argv=None):
    args = parse_args(argv)
    from deploy import FaceAnalyzer
    from deploy.analyzer import SHIPPED_DETECTOR
    if not os.path.isfile(os.path.join(args.data, "label.txt")):
        raise SystemExit("error: %s has no label.txt (the course photos are in ../shared/data/course21/I)" % args.data)
    options = dict(landmarks=args.landmarks, flip=args.flip, no_upright=args.no_upright, no_refit=args.no_refit,
                   yunet=args.yunet, mxnet_detector=args.mxnet_detector, keep_nonfaces=True)
    photos = annotated(args.data, args.split)
    images = {p: imagefile.read(p) for p in photos}
    faces = sum(len(es) for es in photos.values())
    boxes_of = {p: np.array([e.box for e in es]) for p, es in photos.items()}
    backends = [b for b in args.backends.split(",") if b and (b != "mxnet" or os.path.exists(
        (args.mxnet_detector or SHIPPED_DETECTOR) + "-meta.json"))] + (["yunet"] if args.yunet else [])
    first = FaceAnalyzer(detector=backends[0] if backends else "dlib", **options)
    schema = first.schema
    print("%d %s photos of %s, %d annotated faces; landmarks %s" % (len(photos), args.split, args.data, faces,
                                                                 first.predictor.meta.get("model")))
    rows = {"annotated boxes": metrics.landmark_report(sum((landmark_nmes(  # the annotators' boxes, one look
        first.landmarks(images[p], boxes_of[p])[1], [e.points for e in es], schema)
        for p, es in photos.items()), []))}
    detection = []
    for name in backends:
        an = first if name == first.detector_names["photos"] else FaceAnalyzer(detector=name, **options)
        found, kept, false_before, false_after, took, nmes = 0, 0, 0, 0, 0.0, []
        for p, es in photos.items():
            img = images[p]
            start = time.perf_counter()
            d = an.detect(img)
            took += time.perf_counter() - start
            truth = boxes_of[p]
            boxes, points, scores = an.landmarks(img, d.boxes, refit=True)  # the photo path's look
            keep = np.ones(len(d), bool) if scores is None else np.asarray(scores) >= args.face_threshold
            before = geometry.match_boxes(d.boxes, truth, MATCH_IOU)
            after = geometry.match_boxes(boxes[keep], truth, MATCH_IOU)
            found += len(before)
            kept += len(after)
            false_before += len(d) - len(before)
            false_after += int(keep.sum()) - len(after)
            kept_index = np.flatnonzero(keep)
            hit = [(kept_index[i], j) for i, j, _ in after]
            nmes += landmark_nmes([points[i] for i, _ in hit], [es[j].points for _, j in hit], schema)
            nmes += [metrics.UNANSWERED] * (len(es) - len(hit))
        n = len(photos)
        detection.append((name, found / faces, kept / faces, false_before / n, false_after / n, 1000 * took / n))
        rows["detected by %s" % name] = metrics.landmark_report(nmes)
    print("\n| detector | recall (IoU >= 0.5) | %s stage-3 filter | false / photo | after filter | ms / photo |"
          % ("after" if first.refit_map is None else "refitted from the points, after the"))
    print("| --- | --- | --- | --- | --- | --- |")
    for name, r0, r1, f0, f1, ms in detection:
        print("| %s | %.1f%% | %.1f%% | %.3f | %.3f | %.0f |" % (name, 100 * r0, 100 * r1, f0, f1, ms))
    print("\n| landmarks %s | NME (answered) | median | FR@0.1 | AUC@0.1 | missed |"
          % ("flip-averaged" if args.flip else ""))
    print("| --- | --- | --- | --- | --- | --- |")
    for name, r in rows.items():
        print("| %s | %.4f | %.4f | %.2f%% | %.3f | %d |" % (name, r["nme"], r["nme_median"], 100 * r["fr"], r["auc"],
                                                            r["unanswered"]))
    speed = None
    if not args.no_speed:
        speed = photo_path_speed(list(images.values()))
        reference = next(iter(speed.values()))
        print("\n| the same photos, each timed every way in turn | ms / photo | x dlib's HOG alone |")
        print("| --- | --- | --- |")
        for name, ms in speed.items():
            print("| %s | %.0f | %.2f |" % (name, ms, ms / reference))
    return detection, rows, speed


if __name__ == "__main__":
    from recordio.cli import run
    run(main)
