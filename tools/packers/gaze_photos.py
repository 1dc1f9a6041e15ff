"""Gaze archives cut from photos by the inference path: photos, a landmark label file and a gaze direction per
face become an archive in one gaze dataset's view (MPIIFaceGaze's normalised face, MC4's head and eye views,
Gaze360's head frames).

Each face is cut exactly as ``deploy/analyze.py`` cuts it at inference: the camera ``analyze.py`` assumes
(focal length = the photo's width, principal point in the middle; ``--focal`` to change it), the head pose
fitted to the face's points (``headpose.head_pose_from_landmarks``), and the views of
``gazeviews.face_views`` tiled by ``gazeviews.tile``.  The gaze direction (camera frame, x right, y down,
z forward) is turned into the view's frame (``R_view @ g``) and stored in the dataset's declared
convention (``schema.GazeDataset``); a Gaze360 record is a still photo, its frame repeated 7 times as
``analyze.py`` repeats it.

Gaze labels: JSON lines, one per face, ``{"line": N, "gaze_vector": [x, y, z]}`` where ``N`` is the face's
1-based line in the label file (``image`` is checked against the label file's where given; ``found: false``
is a face without an answer), as ``../shared/data/course21/I/gaze_reference.jsonl``.
"""
import json
import os

import numpy as np

from recordio import geometry, headpose, labelfiles
from recordio.gazeviews import face_views, tile, window_views
from recordio.schema import (GAZE360, GAZE360_FRAMES, MC4, MPIIFACEGAZE, face_tiles, frame_tiles, gaze_point_indices,
                             mc4_tiles)
from tools.packers.common import JobResult, Record, Reject, Rejected, encode, read_image, run_pack
from tools.packers.gaze import gaze_meta
from tools.packers.landmarks import course21_splits

DATASETS = {"mpiifacegaze": MPIIFACEGAZE, "mc4": MC4, "gaze360": GAZE360}
READERS = {"course21": (labelfiles.read_course21, "course21"), "wflw": (labelfiles.read_wflw, "wflw98")}


def read_gaze_labels(path):
    """({line: (image or None, unit vector or None, the whole JSON record)}, [LineError]) from a JSON-lines file
    of gaze answers."""
    out, errors = {}, []
    if not os.path.isfile(path):
        raise SystemExit("error: %s: no such gaze label file" % path)
    with open(path) as fh:
        for n, text in enumerate(fh, 1):
            if not text.strip():
                continue
            try:
                rec = json.loads(text)
                if not isinstance(rec, dict) or not isinstance(rec.get("line"), int):
                    raise ValueError("a JSON object with an integer \"line\" expected")
                if rec["line"] in out:
                    raise ValueError("label line %d answered twice" % rec["line"])
                g = None
                if rec.get("found", True):
                    g = np.asarray(rec.get("gaze_vector"), dtype=np.float64)
                    if g.shape != (3,) or not np.all(np.isfinite(g)) or np.linalg.norm(g) < 1e-6:
                        raise ValueError("gaze_vector %r is not a finite non-zero 3-vector" % (rec.get("gaze_vector"),))
                    g = g / np.linalg.norm(g)
                out[rec["line"]] = (rec.get("image"), g, rec)
            except ValueError as e:  # json.JSONDecodeError is a ValueError
                errors.append(labelfiles.LineError(path, n, str(e)))
    return out, errors


def view_labels(dataset, R_view, R, g_cam):
    """The label fields of one face in ``dataset``'s convention, in the view's frame: ``{"gaze", "head",
    "eye", "gaze_vector", "gaze360_vector"}`` as the dataset's layout has them."""
    g = geometry.unit(np.asarray(R_view) @ g_cam)
    head = geometry.unit(np.asarray(R_view) @ np.asarray(R) @ geometry.FORWARD)
    if dataset is MPIIFACEGAZE:
        return {"gaze": geometry.vector_to_pitchyaw(g), "head": geometry.vector_to_pitchyaw(head), "gaze_vector": g}
    if dataset is GAZE360:
        return {"gaze": GAZE360.from_vector(g), "gaze_vector": g, "gaze360_vector": geometry.vector_to_gaze360(g)}
    head_lola = geometry.vector_to_mc4(head)
    R_head = geometry.rot_y(np.radians(head_lola[0])) @ geometry.rot_x(np.radians(head_lola[1]))
    return {"head": head_lola, "eye": geometry.vector_to_mc4(R_head.T @ g), "gaze": geometry.vector_to_mc4(g),
            "gaze_vector": g}


def outside_share(H, photo_wh, side_wh):
    """The share of a view's pixels (``side_wh``) that come from outside the photo, for the photo-to-view
    homography ``H``."""
    w, h = side_wh
    ys, xs = np.mgrid[0:h:4, 0:w:4]
    grid = np.stack([xs.ravel() + 0.5, ys.ravel() + 0.5], -1)
    back = geometry.apply_homography(np.linalg.inv(H), grid)
    inside = (back[:, 0] >= 0) & (back[:, 0] <= photo_wh[0]) & (back[:, 1] >= 0) & (back[:, 1] <= photo_wh[1])
    return float(1.0 - inside.mean())


def photo_worker(job):
    cfg = job["cfg"]
    res = JobResult()
    ds = DATASETS[cfg["dataset"]]
    layout = ds.layout()
    path, img = None, None  # a photo's faces come one after another: each photo is read once
    for s in job["faces_in"]:
        split = s["split"]
        try:
            if s["path"] != path:
                img = read_image(s["path"])  # a photo that cannot be read rejects each of its faces, by line
                path = s["path"]
            h, w = img.shape[:2]
            focal = cfg["focal"] if cfg["focal"] else float(w)
            K = geometry.camera_matrix(w, h, focal)
            pts = np.asarray(s["points"], np.float64)
            try:
                R, t = headpose.head_pose_from_landmarks(pts, (w, h), cfg["schema"], focal)
            except ValueError as e:
                raise Rejected("no head pose from the points: %s" % e)
            views, v = face_views(img, K, R, t, pts, cfg["schema"], cfg["view"], cfg["head_crop"])
            side = next(iter(views.values())).shape[1::-1]
            out = outside_share(v.H, (w, h), side)
            if out > cfg["max_outside"]:
                raise Rejected("the %s view leaves the photo (%.0f%% of it outside, at most %.0f%% allowed)"
                               % (ds.name, 100 * out, 100 * cfg["max_outside"]))
            if ds is GAZE360:
                views = window_views([views], GAZE360_FRAMES)
            canvas = tile(views, cfg["tiles"])
            lab = view_labels(ds, v.R_view, R, s["gaze"])
            fields = dict(has_label=1, line=s["line"], **lab)
            if ds is MPIIFACEGAZE:
                six = geometry.apply_homography(v.H, pts[list(gaze_point_indices(cfg["schema"]))])
                fields["points"] = six * (cfg["tiles"][0]["w"] / side[0])
            label = layout.pack(**fields)
            res.records.append(Record(split, label, encode(canvas, cfg["args"]),
                                      {"image": s["image"], "line": s["line"]}))
        except Rejected as err:
            res.rejects.append(Reject(split, s["file"], s["line"], "%s: %s" % (s["image"], err)))
    return res


def pack_gaze_photos(args):
    ds = DATASETS[args.dataset]
    reader, schema = READERS[args.label_format]
    label_path = args.labels or os.path.join(args.dir, "label.txt")
    if not os.path.isfile(label_path):
        raise SystemExit("error: %s: no such label file" % label_path)
    gaze_path = args.gaze or os.path.join(os.path.dirname(label_path), "gaze_reference.jsonl")
    entries, errors = reader(label_path)
    answers, gaze_errors = read_gaze_labels(gaze_path)
    gaze_point_indices(schema)  # the points the views are cut from
    photos = {}
    for e in entries:
        photos.setdefault(labelfiles.resolve_image(e.image, os.path.dirname(label_path), args.dir), []).append(e)
    if not photos:
        raise SystemExit("error: %s: no face to pack" % label_path)
    splits = course21_splits(photos, seed=args.seed, test_ratio=args.test_ratio, val_ratio=args.val_ratio)
    # a line that cannot be read belongs to no photo's split: it is listed with the training split's rejects
    parse_rejects = [Reject("train", e.file, e.line, e.reason) for e in errors + gaze_errors]
    faces = []
    for path, es in photos.items():
        for e in es:
            split = splits[path]
            a = answers.get(e.line)
            if a is None:
                parse_rejects.append(Reject(split, gaze_path, 0, "%s line %d: no gaze label for this face"
                                            % (label_path, e.line)))
                continue
            if a[0] is not None and os.path.basename(a[0]) != os.path.basename(e.image):
                parse_rejects.append(Reject(split, gaze_path, 0, "label line %d: the gaze file names %s, the label "
                                            "file %s" % (e.line, a[0], e.image)))
                continue
            if a[1] is None:
                parse_rejects.append(Reject(split, label_path, e.line, "%s: the gaze labels give no answer for this "
                                            "face (found: false)" % e.image))
                continue
            faces.append({"split": split, "path": path, "image": e.image, "file": label_path, "line": e.line,
                          "points": np.asarray(e.points, np.float64).tolist(), "gaze": a[1]})
    view = dict(ds.view)
    if ds is MC4:
        tiles = mc4_tiles(args.head_size, args.eye_size)
    elif ds is GAZE360:
        tiles = frame_tiles(args.size)
    else:
        tiles = face_tiles(args.size)
    cfg = {"dataset": args.dataset, "schema": schema, "view": view, "tiles": tiles, "args": args,
           "focal": args.focal, "max_outside": args.max_outside,
           "head_crop": args.head_crop if ds is MC4 else None}
    used = sorted(set(splits.values()) | {"train"})
    metas = {}
    for sp in used:
        meta = gaze_meta(ds, [label_path, gaze_path], args, tiles)
        meta["labelled"] = True
        meta["view"] = view
        meta["head_crop"] = cfg["head_crop"]
        meta["cut_from_photos"] = {"labels": label_path, "format": args.label_format, "gaze": gaze_path,
                                   "camera": "focal %s, principal point in the middle"
                                             % (args.focal or "= photo width"),
                                   "max_outside": args.max_outside}
        meta["split"] = {"name": sp, "seed": args.seed, "test_ratio": args.test_ratio, "val_ratio": args.val_ratio,
                         "by": "photo (course21_splits)"}
        metas[sp] = meta
    per_job = 16
    jobs = [{"faces_in": faces[i:i + per_job], "index": i // per_job, "cfg": cfg,
             "faces": [(f["split"], f["file"], f["line"]) for f in faces[i:i + per_job]]}
            for i in range(0, len(faces), per_job)]
    return run_pack({sp: os.path.join(args.out, sp) for sp in used}, metas, jobs, photo_worker, parse_rejects,
                    args.jobs, "gaze_photos")
