"""Landmark packers: course21 folders, WFLW annotations, PFLD lists, COCO keypoint JSON.

Every face becomes one record: the face crop, and a label with the points in
crop pixels and the crop affine back to the photo (``schema.landmark_layout``).

Points outside the photo: annotators mark features just past the frame edge
(the course21 set has 45 such faces), and those labels are kept as they are;
the crop is padded (WFLW/COCO) or clipped (course21) and the stored points may
then lie outside the crop.  A point further out than ``OUTSIDE_TOLERANCE`` of
the face size is an annotation error, and its line is rejected.
"""
import os
from collections import OrderedDict

import numpy as np

from recordio import geometry, headpose, labelfiles
from recordio.schema import COURSE21, IBUG68, WFLW98, get_schema, landmark_layout
from tools.packers.common import (JobResult, Record, Reject, Rejected, base_meta, crop, encode, read_image,
                                  run_pack)

COURSE_EXPAND = 0.25  # the course expands the face box by a quarter of its size on each side
NEGATIVE_MAX_IOU = 0.3  # a non-face crop overlaps every face crop less than this
NEGATIVE_TRIES = 50  # random boxes tried per wanted negative before giving up
OUTSIDE_TOLERANCE = 0.25  # points may lie this share of the face size outside the photo


def _euler(points, size, schema, result, split, focal=None):
    try:
        return headpose.euler_from_landmarks(points, size, schema, focal)
    except Exception:  # solvePnP can fail on a degenerate point set; angles are then 0 and counted
        result.count((split, "euler_failed"))
        return np.zeros(3)


def _check_points_near(points, region, what):
    x1, y1, x2, y2 = region
    bad = np.where((points[:, 0] < x1) | (points[:, 0] > x2) | (points[:, 1] < y1) | (points[:, 1] > y2))[0]
    if bad.size:
        k = int(bad[0])
        raise Rejected("point %d at (%.1f, %.1f) lies outside %s (%.1f, %.1f, %.1f, %.1f)%s"
                       % (k, points[k, 0], points[k, 1], what, x1, y1, x2, y2,
                          "" if bad.size == 1 else " (and %d more)" % (bad.size - 1)))


def _check_box_in_photo(box, w, h):
    if box[2] <= 0 or box[3] <= 0 or box[0] >= w or box[1] >= h:
        raise Rejected("face box (%.1f, %.1f, %.1f, %.1f) lies outside the %dx%d photo" % (*box, w, h))


def _group_by_image(entries, image_dir_of):
    groups = OrderedDict()
    for e in entries:
        path = labelfiles.resolve_image(e.image, image_dir_of(e))
        groups.setdefault(path, []).append(e)
    return groups


def _source(e, **extra):
    d = {"image": e.image, "file": os.path.basename(e.file), "line": e.line}
    d.update(extra)
    return d


# --------------------------------------------------------------------------
# course21


def course21_worker(job):
    img = read_image(job["path"])
    h, w = img.shape[:2]
    cfg = job["cfg"]
    layout = landmark_layout(COURSE21)
    split = job["split"]
    res = JobResult()
    size = cfg["size"]
    crop_boxes = []
    for e in job["entries"]:
        expanded = geometry.expand_box(e.box, COURSE_EXPAND)
        crop_boxes.append(geometry.clip_box(expanded, w, h))
        try:
            _check_box_in_photo(e.box, w, h)
            _check_points_near(e.points, expanded, "the face box expanded by %g" % COURSE_EXPAND)
            cb = crop_boxes[-1]
            if cb[2] - cb[0] < 1 or cb[3] - cb[1] < 1:
                raise Rejected("face box clipped to the photo is under one pixel")
            face, to_photo, to_crop = crop(img, cb, size, size)
            pts = geometry.apply_affine(to_crop, e.points)
            label = layout.pack(face=1, points=pts, affine=to_photo, box=e.box,
                                euler=_euler(e.points, (w, h), "course21", res, split), line=e.line)
            res.records.append(Record(split, label, encode(face, cfg["args"]), _source(e)))
            outside = (e.points < 0).any() or (e.points[:, 0] > w).any() or (e.points[:, 1] > h).any()
            if outside:
                res.count((split, "faces_with_points_outside_photo"))
            res.count((split, "faces"))
        except Rejected as err:
            res.rejects.append(Reject(split, e.file, e.line, str(err)))
    _negatives(img, job, crop_boxes, layout, res)
    return res


def _negatives(img, job, face_boxes, layout, res):
    cfg = job["cfg"]
    want = int(round(cfg["neg_ratio"] * len(job["entries"])))
    if want <= 0:
        return
    h, w = img.shape[:2]
    rng = np.random.default_rng([cfg["seed"], job["index"]])
    sizes = [max(b[2] - b[0], b[3] - b[1]) for b in face_boxes] or [min(w, h) / 3]
    boxes = np.array(face_boxes).reshape(-1, 4)
    made = 0
    for _ in range(want * NEGATIVE_TRIES):
        if made == want:
            break
        side = rng.choice(sizes) * rng.uniform(0.5, 1.5)
        side = min(side, w, h)
        if side < 8:
            continue
        bw, bh = side, side * rng.uniform(0.8, 1.25)
        bh = min(bh, h)
        x1, y1 = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
        box = np.array([x1, y1, x1 + bw, y1 + bh])
        if boxes.size and geometry.box_iou(box, boxes).max() >= NEGATIVE_MAX_IOU:
            continue
        size = cfg["size"]
        patch, to_photo, _ = crop(img, box, size, size)
        label = layout.pack(face=0, affine=to_photo, box=box, line=0)
        res.records.append(Record(job["split"], label, encode(patch, cfg["args"]),
                                  {"image": job["image"], "negative": made}))
        made += 1
    res.count((job["split"], "negatives"), made)
    if made < want:
        res.count((job["split"], "negatives_not_found"), want - made)


def course21_splits(photos, seed=0, test_ratio=0.2, val_ratio=0.0):
    """{photo path: 'train' | 'val' | 'test'}: the photos (sorted) permuted by ``seed``, the first ``test_ratio``
    of them test, the next ``val_ratio`` validation (so adding a validation split moves no test photo)."""
    images = sorted(photos)
    order = np.random.default_rng(seed).permutation(len(images))
    n_test = int(round(test_ratio * len(images)))
    n_val = int(round(val_ratio * len(images)))
    if test_ratio < 0 or val_ratio < 0 or n_test + n_val >= len(images) > 0:
        raise SystemExit("error: --test_ratio %g and --val_ratio %g leave no training photo of %d"
                         % (test_ratio, val_ratio, len(images)))
    return {images[i]: "test" if rank < n_test else "val" if rank < n_test + n_val else "train"
            for rank, i in enumerate(order)}


def read_course21_dirs(dirs):
    """(entries, errors) of the ``label.txt`` of every course folder in ``dirs``."""
    entries, errors = [], []
    for d in dirs:
        path = os.path.join(d, "label.txt")
        if not os.path.isfile(path):
            raise SystemExit("error: %s: no label.txt (course21 folders hold label.txt and the photos)" % d)
        e, err = labelfiles.read_course21(path)
        entries += e
        errors += err
    return entries, errors


def pack_course21(args):
    entries, errors = read_course21_dirs(args.dirs)
    by_image = _group_by_image(entries, lambda e: os.path.dirname(e.file))
    # split by photo, never by face; parse errors follow their photo's split
    images = set(by_image) | {labelfiles.resolve_image(er.image, os.path.dirname(er.file)) for er in errors if er.image}
    split_of = course21_splits(images, args.seed, args.test_ratio, args.val_ratio)
    n_test, n_val = (sum(1 for s in split_of.values() if s == name) for name in ("test", "val"))
    cfg = {"size": args.size, "neg_ratio": args.neg_ratio, "seed": args.seed, "args": args}
    jobs = []
    for index, (path, faces) in enumerate(by_image.items()):
        split = split_of[path]
        jobs.append({"path": path, "image": faces[0].image, "entries": faces, "split": split, "index": index,
                     "cfg": cfg, "faces": [(split, f.file, f.line) for f in faces]})
    parse_rejects = [Reject(split_of.get(labelfiles.resolve_image(er.image, os.path.dirname(er.file)), "train"),
                            er.file, er.line, er.reason) for er in errors]
    splits = ["train"] + (["val"] if n_val else []) + (["test"] if n_test else [])
    layout = landmark_layout(COURSE21)
    metas = {s: base_meta("landmarks", "course21", [os.path.join(d, "label.txt") for d in args.dirs], args, layout,
                          {"width": args.size, "height": args.size, "channels": 3, "color": "bgr",
                           "encoding": args.encoding},
                          schema="course21") for s in splits}
    for s in splits:
        metas[s]["split"] = {"by": "photo", "seed": args.seed, "test_ratio": args.test_ratio,
                             "val_ratio": args.val_ratio, "name": s}
        metas[s]["crop"] = {"expand": COURSE_EXPAND, "clipped_to_photo": True, "negative_max_iou": NEGATIVE_MAX_IOU}
    prefixes = {s: os.path.join(args.out, s) for s in splits}
    return run_pack(prefixes, metas, jobs, course21_worker, parse_rejects, args.jobs, "course21")


# --------------------------------------------------------------------------
# WFLW / COCO: faces in full photos, square crop around the landmarks


def _face_box_for_crop(e, cfg):
    if cfg["crop"] == "box" and e.box is not None:
        return geometry.square_box(e.box, 1 + 2 * cfg["margin"])
    return geometry.square_box(geometry.points_box(e.points), 1 + 2 * cfg["margin"])


def photo_face_worker(job):
    """WFLW and COCO: one photo, its faces; optional augmented repeats."""
    img = read_image(job["path"])
    h, w = img.shape[:2]
    cfg = job["cfg"]
    schema = get_schema(cfg["schema"])
    layout = landmark_layout(schema)
    split = job["split"]
    res = JobResult()
    size = cfg["size"]
    rng = np.random.default_rng([cfg["seed"], job["index"]])
    for e in job["entries"]:
        try:
            if e.points.shape[0] != schema.num_points:
                raise Rejected("%d points, the %s schema has %d" % (e.points.shape[0], schema.name, schema.num_points))
            face_size = max(*geometry.box_size(geometry.points_box(e.points)))
            if face_size < 2:
                raise Rejected("degenerate face: the landmarks span %.2f px" % face_size)
            tol = OUTSIDE_TOLERANCE * face_size
            _check_points_near(e.points, (-tol, -tol, w + tol, h + tol), "the %dx%d photo (with tolerance)" % (w, h))
            if e.box is not None:
                _check_box_in_photo(e.box, w, h)
            box = e.box if e.box is not None else geometry.points_box(e.points)
            cb = _face_box_for_crop(e, cfg)
            euler = _euler(e.points, (w, h), schema.name, res, split)
            face, to_photo, to_crop = crop(img, cb, size, size)
            common = dict(face=1, box=box, attributes=e.attributes, line=e.line)
            res.records.append(Record(split, layout.pack(points=geometry.apply_affine(to_crop, e.points),
                                                         affine=to_photo, euler=euler, **common),
                                      encode(face, cfg["args"]), _source(e)))
            res.count((split, "faces"))
            for r in range(cfg["repeats"]):
                angle = rng.uniform(-cfg["rotate"], cfg["rotate"])
                scale = rng.uniform(1 - cfg["zoom"], 1 + cfg["zoom"])
                shift = rng.uniform(-cfg["shift"], cfg["shift"], 2) * size
                aug = geometry.compose_affine(geometry.similarity_affine((size / 2, size / 2), angle, scale, shift),
                                              to_crop)
                patch = geometry.warp(img, aug, size, size)
                e_aug = geometry.roll_euler(euler, angle)
                res.records.append(Record(split, layout.pack(points=geometry.apply_affine(aug, e.points),
                                                             affine=geometry.invert_affine(aug), euler=e_aug,
                                                             **common),
                                          encode(patch, cfg["args"]), _source(e, repeat=r + 1)))
                res.count((split, "augmented_repeats"))
        except Rejected as err:
            res.rejects.append(Reject(split, e.file, e.line, str(err)))
    return res


def _crop_cfg(args, schema):
    return {"size": args.size, "margin": args.margin, "crop": args.crop, "seed": args.seed,
            "repeats": getattr(args, "repeats", 0), "rotate": getattr(args, "rotate", 30.0),
            "zoom": getattr(args, "zoom", 0.1), "shift": getattr(args, "shift", 0.05),
            "schema": schema, "args": args}


def _default_split(path, fallback):
    name = os.path.basename(path).lower()
    return "train" if "train" in name else "test" if "test" in name else fallback


def _photo_splits(photos, split, val_ratio, seed):
    """{photo: split}: ``val_ratio`` of the photos (drawn with ``seed``) in ``val``, the rest in ``split``."""
    if not 0 <= val_ratio < 1:
        raise SystemExit("error: --val_ratio must be in [0, 1), got %g" % val_ratio)
    photos = sorted(photos)
    n_val = int(round(val_ratio * len(photos)))
    val = {photos[k] for k in np.random.default_rng(seed).permutation(len(photos))[:n_val]}
    return {p: "val" if p in val else split for p in photos}


def _pack_photo_faces(args, entries, errors, source_format, schema, image_dir, split, sources):
    groups = _group_by_image(entries, lambda e: image_dir)
    cfg = _crop_cfg(args, schema)
    split_of = _photo_splits(set(groups) | {labelfiles.resolve_image(er.image, image_dir) for er in errors
                                            if er.image}, split, getattr(args, "val_ratio", 0.0), args.seed)
    jobs = [{"path": p, "entries": es, "split": split_of[p], "index": i, "cfg": cfg,
             "faces": [(split_of[p], e.file, e.line) for e in es]} for i, (p, es) in enumerate(groups.items())]
    parse_rejects = [Reject(split_of.get(labelfiles.resolve_image(er.image, image_dir), split) if er.image else split,
                            er.file, er.line, er.reason) for er in errors]
    layout = landmark_layout(get_schema(schema))
    splits = sorted(set(split_of.values()) | {split})
    metas = {}
    for s in splits:
        meta = base_meta("landmarks", source_format, sources, args, layout,
                         {"width": args.size, "height": args.size, "channels": 3, "color": "bgr",
                          "encoding": args.encoding}, schema=schema)
        meta["crop"] = {"square": True, "around": args.crop, "margin": args.margin, "padded": True}
        meta["split"] = {"by": "photo", "name": s, "val_ratio": getattr(args, "val_ratio", 0.0), "seed": args.seed}
        if getattr(args, "subset", None):
            meta["subset"] = args.subset
        metas[s] = meta
    return run_pack({s: os.path.join(args.out, s) for s in splits}, metas, jobs, photo_face_worker,
                    parse_rejects, args.jobs, source_format)


def pack_wflw(args):
    entries, errors = labelfiles.read_wflw(args.annotations)
    if args.subset:
        from recordio.schema import WFLW_ATTRIBUTES
        k = WFLW_ATTRIBUTES.index(args.subset)
        entries = [e for e in entries if e.attributes[k] > 0.5]
    split = args.split or ("test_" + args.subset if args.subset else _default_split(args.annotations, "data"))
    return _pack_photo_faces(args, entries, errors, "wflw", WFLW98.name, args.images, split, [args.annotations])


def pack_coco(args):
    entries, errors = labelfiles.read_coco(args.json)
    counts = {e.points.shape[0] for e in entries}
    by_count = {s.num_points: s.name for s in (WFLW98, COURSE21, IBUG68)}
    schema = args.schema or (by_count.get(counts.pop()) if len(counts) == 1 else None)
    if schema is None:
        raise SystemExit("error: %s: cannot tell the landmark schema from keypoint counts %s; pass --schema"
                         % (args.json, sorted(counts) or "none"))
    images = args.images or os.path.dirname(os.path.abspath(args.json))
    split = args.split or _default_split(args.json, "data")
    return _pack_photo_faces(args, entries, errors, "coco", schema, images, split, [args.json])


# --------------------------------------------------------------------------
# PFLD list.txt: the photos are already face crops


def pfld_worker(job):
    img = read_image(job["path"])
    h, w = img.shape[:2]
    cfg = job["cfg"]
    layout = landmark_layout(WFLW98)
    split = job["split"]
    res = JobResult()
    size = cfg["size"]
    for e in job["entries"]:
        try:
            pts = e.points * [w, h]
            _check_points_near(e.points, (-OUTSIDE_TOLERANCE, -OUTSIDE_TOLERANCE, 1 + OUTSIDE_TOLERANCE,
                                          1 + OUTSIDE_TOLERANCE), "the normalised crop (with tolerance)")
            face, to_photo, to_crop = crop(img, (0, 0, w, h), size, size)
            label = layout.pack(face=1, points=geometry.apply_affine(to_crop, pts), affine=to_photo,
                                box=(0, 0, w, h),
                                euler=_euler(pts, (w, h), "wflw98", res, split, geometry.CROP_FOCAL * max(w, h)),
                                attributes=e.attributes, line=e.line)
            res.records.append(Record(split, label, encode(face, cfg["args"]), _source(e)))
            res.count((split, "faces"))
            diff = np.abs(np.asarray(e.euler) - label[layout.slice("euler")]).max()
            res.count((split, "list_euler_differs_over_10deg"), int(diff > 10))
        except Rejected as err:
            res.rejects.append(Reject(split, e.file, e.line, str(err)))
    return res


def pack_pfld(args):
    entries, errors = labelfiles.read_pfld_list(args.list)
    base = os.path.dirname(os.path.abspath(args.list))
    groups = OrderedDict()
    for e in entries:
        path = labelfiles.resolve_image(e.image, args.images, base)
        if not os.path.isfile(path):
            path = labelfiles.resolve_image(os.path.basename(e.image), args.images, base, os.path.join(base, "imgs"))
        groups.setdefault(path, []).append(e)
    split = args.split or _default_split(args.list, "data")
    cfg = {"size": args.size, "args": args}
    jobs = [{"path": p, "entries": es, "split": split, "index": i, "cfg": cfg,
             "faces": [(split, e.file, e.line) for e in es]} for i, (p, es) in enumerate(groups.items())]
    layout = landmark_layout(WFLW98)
    meta = base_meta("landmarks", "pfld", [args.list], args, layout,
                     {"width": args.size, "height": args.size, "channels": 3, "color": "bgr",
                      "encoding": args.encoding}, schema="wflw98")
    meta["crop"] = {"note": "PFLD list images are already crops; affine maps to the list's image"}
    return run_pack({split: os.path.join(args.out, split)}, {split: meta}, jobs, pfld_worker,
                    [Reject(split, er.file, er.line, er.reason) for er in errors], args.jobs, "pfld")
