"""Gaze packers.  MC4 (Momenta): ``head/``, ``l_eye/``, ``r_eye/`` and three label files.

One record per sample: the head and both eye images tiled into one image
(``meta.json`` ``tiles`` gives each view's rectangle) and the label of
``schema.mc4_layout`` (degrees, MC4 (lo, la), plus the gaze unit vector in the
camera frame of ``recordio.geometry``).
"""
import os

import cv2
import numpy as np

from recordio import geometry, labelfiles
from recordio.schema import mc4_layout
from tools.packers.common import JobResult, Record, Reject, Rejected, base_meta, encode, read_image, run_pack

MC4_VIEWS = ("head", "l_eye", "r_eye")
COMPOSITION_TOLERANCE = 1.0  # degrees: gaze labels further than this from compose(head, eye) are counted


def mc4_tiles(head_size, eye_size):
    """Tile grid: the head square on the left, the two eye squares stacked on its right."""
    return [{"name": "head", "x": 0, "y": 0, "w": head_size, "h": head_size},
            {"name": "l_eye", "x": head_size, "y": 0, "w": eye_size, "h": eye_size},
            {"name": "r_eye", "x": head_size, "y": eye_size, "w": eye_size, "h": eye_size}]


def tile(images, tiles, channels=3):
    """Paste ``images`` ({name: image}) into one canvas by ``tiles``."""
    w = max(t["x"] + t["w"] for t in tiles)
    h = max(t["y"] + t["h"] for t in tiles)
    canvas = np.zeros((h, w, channels) if channels == 3 else (h, w), np.uint8)
    for t in tiles:
        img = images[t["name"]]
        interp = cv2.INTER_AREA if img.shape[1] > t["w"] else cv2.INTER_LINEAR
        canvas[t["y"]:t["y"] + t["h"], t["x"]:t["x"] + t["w"]] = cv2.resize(img, (t["w"], t["h"]),
                                                                               interpolation=interp)
    return canvas


def untile(image, tiles):
    """Inverse of ``tile``: {name: view}."""
    return {t["name"]: image[t["y"]:t["y"] + t["h"], t["x"]:t["x"] + t["w"]] for t in tiles}


def mc4_worker(job):
    cfg = job["cfg"]
    res = JobResult()
    split = job["split"]
    for s in job["samples"]:
        try:
            views = {v: read_image(os.path.join(cfg["root"], v, s["name"])) for v in MC4_VIEWS}
            img = tile(views, cfg["tiles"])
            if s["head"] is None:
                label = cfg["layout"].pack(has_label=0, line=s["record"])
            else:
                gaze = np.array(s["gaze"])
                composed = geometry.mc4_compose(s["head"], s["eye"])
                off = geometry.angular_error_deg(geometry.mc4_to_vector(*composed), geometry.mc4_to_vector(*gaze))
                if off > COMPOSITION_TOLERANCE:
                    res.count((split, "gaze_differs_from_composition"))
                label = cfg["layout"].pack(has_label=1, head=s["head"], eye=s["eye"], gaze=gaze,
                                           gaze_vector=geometry.mc4_to_vector(*gaze), line=s["record"])
            res.records.append(Record(split, label, encode(img, cfg["args"]),
                                      {"image": s["name"], "record": s["record"]}))
        except Rejected as err:
            res.rejects.append(Reject(split, s["file"], s["line"], "record %r: %s" % (s["name"], err)))
    return res


def _read_mc4(root):
    """Samples from the three label files; errors for records missing from one of them."""
    tables, errors = {}, []
    for kind, fname in zip(("head", "eye", "gaze"), labelfiles.MC4_LABEL_FILES):
        path = os.path.join(root, fname)
        tables[kind], err = labelfiles.read_mc4_labels(path)
        errors += err
    head_path = os.path.join(root, labelfiles.MC4_LABEL_FILES[0])
    samples = []
    names = list(tables["head"]) + [n for n in tables["gaze"] if n not in tables["head"]]
    for name in names:
        missing = [f for kind, f in zip(("head", "eye", "gaze"), labelfiles.MC4_LABEL_FILES)
                   if name not in tables[kind]]
        rec = (tables["head"].get(name) or tables["gaze"][name])[0]
        if missing:
            errors.append(labelfiles.LineError(head_path if name in tables["head"] else
                                               os.path.join(root, labelfiles.MC4_LABEL_FILES[2]),
                                               3 * rec - 2, "record %r has no entry in %s" % (name, ", ".join(missing)),
                                               name))
            continue
        samples.append({"name": name, "record": rec, "file": head_path, "line": 3 * rec - 2,
                        "head": tables["head"][name][1:], "eye": tables["eye"][name][1:],
                        "gaze": tables["gaze"][name][1:]})
    return samples, errors


def pack_mc4(args):
    root = args.dir
    for v in MC4_VIEWS:
        if not os.path.isdir(os.path.join(root, v)):
            raise SystemExit("error: %s: no %s/ folder (MC4 layout: head/, l_eye/, r_eye/ and label files)"
                             % (root, v))
    has_labels = all(os.path.isfile(os.path.join(root, f)) for f in labelfiles.MC4_LABEL_FILES)
    test_mode = args.test or not has_labels
    if test_mode:
        names = sorted(f for f in os.listdir(os.path.join(root, "head")) if not f.startswith("."))
        samples = [{"name": n, "record": i + 1, "file": os.path.join(root, "head"), "line": i + 1, "head": None}
                   for i, n in enumerate(names)]
        errors = []
        sources = [os.path.join(root, "head")]
    else:
        samples, errors = _read_mc4(root)
        sources = [os.path.join(root, f) for f in labelfiles.MC4_LABEL_FILES]
    split = args.split or ("test" if test_mode else "train")
    tiles = mc4_tiles(args.head_size, args.eye_size)
    layout = mc4_layout()
    cfg = {"root": root, "tiles": tiles, "layout": layout, "args": args}
    per_job = 16
    jobs = [{"samples": samples[i:i + per_job], "split": split, "index": i // per_job, "cfg": cfg,
             "faces": [(split, s["file"], s["line"]) for s in samples[i:i + per_job]]}
            for i in range(0, len(samples), per_job)]
    meta = base_meta("gaze_mc4", "mc4", sources, args, layout,
                     {"width": tiles[0]["w"] + tiles[1]["w"], "height": max(tiles[0]["h"], 2 * tiles[1]["h"]),
                      "channels": 3, "color": "bgr", "encoding": args.format}, tiles=tiles)
    meta["angles"] = {"convention": "mc4", "unit": "deg", "camera_frame": "x right, y down, z forward"}
    meta["labelled"] = not test_mode
    parse_rejects = [Reject(split, er.file, er.line, er.reason) for er in errors]
    return run_pack({split: os.path.join(args.out, split)}, {split: meta}, jobs, mc4_worker, parse_rejects,
                    args.jobs, "mc4")
