"""Predict landmarks on photos, with face boxes from a label file, to JSON Lines in photo pixels.

    python deploy/predict.py --model RUN_DIR/model --labels DIR/label.txt --format course21 --out preds.jsonl

One line per face: {"image": path as given, "box": [x1, y1, x2, y2], "points": [[x, y], ...],
"face_score": p}.  Images are looked up beside the label file (or in --images).  The crop around
each box is the one the model was trained on (its meta's crop recipe).
"""
import argparse
import json
import os
import sys

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from recordio.devices import use_all_cores  # noqa: E402

use_all_cores()  # before MXNet loads: it reads OMP_NUM_THREADS once

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from deploy.outputs import OutputNames  # noqa: E402
from deploy.predictor import add_backend_args, backend_kwargs  # noqa: E402
from recordio import devices, geometry, imagefile, labelfiles  # noqa: E402

READERS = {"course21": labelfiles.read_course21, "wflw": labelfiles.read_wflw, "coco": labelfiles.read_coco}


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="export prefix, e.g. RUN_DIR/model")
    ap.add_argument("--labels", required=True, help="label file with the face boxes")
    ap.add_argument("--format", required=True, choices=sorted(READERS), help="the label file's format")
    ap.add_argument("--images", help="image folder (default: beside the label file)")
    ap.add_argument("--out", required=True, help="JSON Lines output")
    ap.add_argument("--draw", help="folder for the photos with predicted points drawn")
    ap.add_argument("--batch_size", type=int, default=32)
    ap.add_argument("--flip", action="store_true", help="landmarks: average with the mirrored crop's prediction")
    ap.add_argument("--face_threshold", type=float, default=0.5,
                    help="stage-3 models: below this face_score the crop is judged non-face and the line has no points")
    ap.add_argument("--keep_nonfaces", action="store_true", help="stage-3 models: give points for non-faces too")
    ap.add_argument("--mkldnn", action="store_true", help="the same as --backend mkldnn")
    add_backend_args(ap)
    ap.add_argument("--gpu_ids", default="", help="e.g. 0,1; empty = CPU (batches are split across the devices)")
    return ap.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from deploy.predictor import Predictor
    predictor = Predictor(args.model, ctx=devices.contexts(args.gpu_ids), flip=args.flip,
                          **backend_kwargs(args, args.model))
    entries, errors = READERS[args.format](args.labels)
    for e in errors:
        print("skipped %s" % e, file=sys.stderr)
    image_dir = args.images or os.path.dirname(os.path.abspath(args.labels))
    by_image = {}
    for e in entries:
        if e.box is None:
            print("skipped %s:%d: no face box" % (e.file, e.line), file=sys.stderr)
            continue
        by_image.setdefault(e.image, []).append(e)
    written = nonfaces = skipped = 0
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    paths = {name: labelfiles.resolve_image(name, image_dir) for name in by_image}
    names = OutputNames(list(paths.values()) + [args.labels])  # --draw never writes over an input
    if os.path.realpath(args.out) in names.taken:
        raise SystemExit("error: --out %s is one of the inputs (the label file or a photo): name another file"
                         % args.out)
    with open(args.out, "w") as out:
        for name, faces in tqdm(by_image.items(), desc="predicting", unit="photo", mininterval=0.5):
            path = paths[name]
            try:
                img = imagefile.read(path)
            except imagefile.ImageProblem as e:  # missing, cut short or damaged: never answered on grey pixels
                skipped += len(faces)
                print("skipped %s:%s: %s" % (faces[0].file, ",".join(str(f.line) for f in faces), e), file=sys.stderr)
                continue
            inputs, to_photo = predictor.crops(img, [f.box for f in faces])
            res = {}
            for s in range(0, len(inputs), args.batch_size):
                part = predictor(np.stack(inputs[s:s + args.batch_size]))
                for k, v in part.items():
                    res.setdefault(k, []).append(v)
            res = {k: np.concatenate(v) for k, v in res.items()}
            for k, f in enumerate(faces):
                rec = {"image": name, "box": [round(float(v), 2) for v in f.box]}
                if "face_prob" in res:
                    rec["face_score"] = round(float(res["face_prob"][k]), 4)
                if "face_prob" not in res or args.keep_nonfaces or rec["face_score"] >= args.face_threshold:
                    pts = geometry.apply_affine(to_photo[k], res["landmarks"][k])
                    rec["points"] = np.round(pts, 2).tolist()
                    if args.draw:
                        geometry.draw_points(img, pts, (0, 255, 0))
                else:
                    nonfaces += 1
                out.write(json.dumps(rec) + "\n")
                written += 1
            if args.draw:
                os.makedirs(args.draw, exist_ok=True)
                cv2.imwrite(names.path(args.draw, os.path.basename(name)), img)
    dropped = " (%d judged non-face: no points, below --face_threshold %g)" % (nonfaces, args.face_threshold)
    unread = "; %d faces skipped: their photo cannot be read (above)" % skipped
    print("%d faces -> %s%s%s" % (written, args.out, dropped if nonfaces else "", unread if skipped else ""))
    return written


if __name__ == "__main__":
    from recordio.cli import run
    run(main)
