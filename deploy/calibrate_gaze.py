"""Fit a per-person gaze correction from frames where the person looked at known targets.

    python deploy/analyze.py calib.mp4 --gaze MODEL --out out/calib [--screen screen.json]
    python deploy/calibrate_gaze.py out/calib/results.jsonl targets.txt --out me.json [--screen screen.json]
    python deploy/analyze.py clip.mp4 --gaze MODEL --calibration me.json --out out/clip

TARGETS: one line per target, ``SOURCE FRAME A B``: SOURCE the photo or video as analyze.py read it (its
path, or just the file name), FRAME the frame index (``-`` for a photo), and A B the target: with
``--screen``, the pixel (x, y) on that screen the person looked at (the direction to it starts at the face
centre analyze.py located); without, the true gaze (pitch, yaw) in degrees in the camera's frame.  Lines
starting with ``#`` are comments.  Where a frame holds several faces the largest is the person's.  A line
that names no answered face, or is malformed, is reported with its file and line and left out; the fit
uses the rest (an offset from fewer than 6 targets, an affine map of the angles from 6 or more; see
deploy/gazecal.py).  The model's own direction (``uncalibrated``) is used where the results were already
calibrated.
"""
import argparse
import json
import os
import sys

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from deploy.gazecal import AFFINE_FIT_MIN, Calibration, Screen, angles_of, angular_error  # noqa: E402
from recordio.labelfiles import LineError, parse_floats  # noqa: E402


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", help="analyze.py's results.jsonl, run with --gaze")
    ap.add_argument("targets", help="the targets file (see above)")
    ap.add_argument("--out", required=True, help="where to write the calibration (JSON)")
    ap.add_argument("--screen", help="screen file: targets are pixels on that screen")
    return ap.parse_args(argv)


def read_faces(path):
    """{(source, frame): the largest face with a gaze answer}, keyed by full path and by file name."""
    faces = {}
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            if "gaze" not in r:
                continue
            box = np.asarray(r["box"], np.float64)
            area = (box[2] - box[0]) * (box[3] - box[1])
            for source in (r["source"], os.path.basename(r["source"])):
                key = (source, r.get("frame"))
                if key not in faces or area > faces[key][0]:
                    faces[key] = (area, r)
    return {k: r for k, (_, r) in faces.items()}


def pairs(targets, faces, screen):
    """(predicted, target) angle pairs in degrees, and a LineError for each line left out."""
    predicted, wanted, errors = [], [], []
    with open(targets, encoding="utf-8", errors="replace") as f:
        lines = f.read().splitlines()
    for n, line in enumerate(lines, 1):
        tok = line.split()
        if not tok or tok[0].startswith("#"):
            continue
        try:
            if len(tok) != 4:
                raise ValueError("expected 4 tokens (source, frame or -, two target numbers), got %d" % len(tok))
            frame = None if tok[1] == "-" else int(parse_floats([tok[1]], "frame")[0])
            target = parse_floats(tok[2:], "target")
            face = faces.get((tok[0], frame))
            if face is None:
                raise ValueError("no face with a gaze answer in %s%s of %s" % (
                    tok[0], "" if frame is None else " frame %d" % frame, os.path.basename(str(targets))))
            gaze = face["gaze"]
            if screen is not None:
                if "origin_mm" not in gaze:
                    raise ValueError("the answer has no origin_mm (results from an older analyze.py)")
                target = screen.target_angles(gaze["origin_mm"], target)
            predicted.append(angles_of(gaze.get("uncalibrated", gaze["vector"])))
            wanted.append(target)
        except ValueError as e:
            errors.append(LineError(targets, n, str(e)))
    return np.array(predicted).reshape(-1, 2), np.array(wanted).reshape(-1, 2), errors


def main(argv=None):
    args = parse_args(argv)
    screen = Screen.load(args.screen) if args.screen else None
    faces = read_faces(args.results)
    predicted, target, errors = pairs(args.targets, faces, screen)
    for e in errors:
        print("skipped %s" % e, file=sys.stderr)
    if not len(predicted):
        raise SystemExit("error: no target in %s matched a gaze answer in %s" % (args.targets, args.results))
    cal = Calibration.fit(predicted, target)
    cal.save(args.out)
    print("%d targets (%d skipped): %s correction, mean error %.2f deg before, %.2f after (on the targets "
          "themselves) -> %s" % (len(predicted), len(errors), cal.kind, cal.error_before, cal.error_after, args.out))
    loo = leave_one_out(predicted, target, cal.kind)
    if loo is not None:
        print("leave-one-out mean error %.2f deg (%s fits of %d targets)" % (np.mean(loo), cal.kind,
                                                                             len(predicted) - 1))
    return cal


def leave_one_out(predicted, target, kind):
    """Each target's error under a fit of ``kind`` (the saved fit's) to the others, degrees; None when the
    others are too few for that kind."""
    need = AFFINE_FIT_MIN if kind == "affine" else 1
    if len(predicted) - 1 < need:
        return None
    return np.array([float(angular_error(Calibration.fit(np.delete(predicted, k, 0), np.delete(target, k, 0),
                                                         kind)(predicted[k]), target[k]))
                     for k in range(len(predicted))])


if __name__ == "__main__":
    from recordio.cli import run
    run(main)
