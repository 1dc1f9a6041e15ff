"""Gaze packers.  MC4 (Momenta): ``head/``, ``l_eye/``, ``r_eye/`` and three label files.

One record per sample: the head and both eye images tiled into one image
(``meta.json`` ``tiles`` gives each view's rectangle) and the label of
``schema.mc4_layout`` (degrees, MC4 (lo, la), plus the gaze unit vector in the
camera frame of ``recordio.geometry``).
"""
import os
import re

import cv2
import numpy as np

from recordio import geometry, labelfiles
from recordio.gazeviews import centre_crop, tile
from recordio.schema import (GAZE360, GAZE360_FRAMES, MC4, MPIIFACEGAZE, face_tiles, frame_tiles, mc4_tiles,
                             tiles_size)
from tools.packers.common import (JobResult, Record, Reject, Rejected, base_meta, encode, read_image,
                                  run_pack)

COMPOSITION_TOLERANCE = 1.0  # degrees: gaze labels further than this from compose(head, eye) are counted


IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")  # .png first: the release's


def mc4_image(root, view, name):
    """The image of record ``name`` in ``root/view``: the name as given when it has an image extension and
    exists, else ``<name>.png`` (the baseline's loader), then the other extensions; ``Rejected`` naming the
    file looked for when none exists."""
    folder = os.path.join(root, view)
    if os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS and os.path.isfile(os.path.join(folder, name)):
        return os.path.join(folder, name)
    for ext in IMAGE_EXTENSIONS:
        path = os.path.join(folder, name + ext)
        if os.path.isfile(path):
            return path
    raise Rejected("image not found: %s (nor %s)" % (os.path.join(folder, name + ".png"),
                                                     ", ".join(IMAGE_EXTENSIONS[1:])))


def gaze_meta(dataset, sources, args, tiles):
    """The meta.json of a gaze archive of ``dataset`` (a ``schema.GazeDataset``) whose samples are ``tiles``."""
    w, h = tiles_size(tiles)
    meta = base_meta(dataset.task, dataset.name, sources, args, dataset.layout(),
                     {"width": w, "height": h, "channels": 3, "color": "bgr", "encoding": args.encoding}, tiles=tiles)
    meta["angles"] = dict(dataset.angles)
    return meta


def mc4_worker(job):
    cfg = job["cfg"]
    res = JobResult()
    for s in job["samples"]:
        split = s["split"]
        try:
            views = {v: read_image(mc4_image(cfg["root"], v, s["name"])) for v in MC4.views}
            if cfg["head_crop"]:
                views["head"] = centre_crop(views["head"], cfg["head_crop"])
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
                                           gaze_vector=MC4.to_vector(gaze), line=s["record"])
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
    named = {e.image for e in errors}  # records already rejected where they are bad, named once
    names = list(tables["head"]) + [n for n in tables["gaze"] if n not in tables["head"]]
    for name in names:
        missing = [f for kind, f in zip(("head", "eye", "gaze"), labelfiles.MC4_LABEL_FILES)
                   if name not in tables[kind]]
        rec = (tables["head"].get(name) or tables["gaze"][name])[0]
        if missing and name in named:
            continue
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


def _natural_key(name):
    """Order record names as numbers where they are numbers (0, 1, 2, 10 rather than 0, 1, 10, 2)."""
    return [(0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", name)]


def _mc4_test_samples(root):
    """Images-only records (a test set): one per image in head/, named by its bare name."""
    folder = os.path.join(root, "head")
    files = sorted((f for f in os.listdir(folder) if os.path.splitext(f)[1].lower() in IMAGE_EXTENSIONS),
                   key=lambda f: _natural_key(os.path.splitext(f)[0]))
    samples, errors, seen = [], [], {}
    for i, f in enumerate(files):
        name = os.path.splitext(f)[0]
        if name in seen:
            errors.append(labelfiles.LineError(os.path.join(folder, f), 0, "record %r has a second image (%s and %s)"
                                               % (name, seen[name], f), name))
            continue
        seen[name] = f
        samples.append({"name": name, "record": len(samples) + 1, "file": os.path.join(folder, f), "line": 0,
                        "head": None})
    return samples, errors


def _assign_mc4_splits(samples, split, val_ratio, seed):
    """Every sample in ``split`` but the baseline's validation share: the records (label-file order)
    shuffled as ``np.random.seed(seed); np.random.shuffle(indices)`` does, the first ``floor(val_ratio *
    N)`` of them ``val``.  Returns the split names used."""
    for s in samples:
        s["split"] = split
    if not val_ratio:
        return [split]
    if not 0 < val_ratio < 1:
        raise SystemExit("error: --val_ratio must be in (0, 1), got %g" % val_ratio)
    order = np.arange(len(samples))
    np.random.RandomState(seed).shuffle(order)
    for k in order[:int(np.floor(val_ratio * len(samples)))]:
        samples[k]["split"] = "val"
    return [split, "val"]


def pack_mc4(args):
    root = args.dir
    for v in MC4.views:
        if not os.path.isdir(os.path.join(root, v)):
            raise SystemExit("error: %s: no %s/ folder (MC4 layout: head/, l_eye/, r_eye/ and label files)"
                             % (root, v))
    has_labels = all(os.path.isfile(os.path.join(root, f)) for f in labelfiles.MC4_LABEL_FILES)
    test_mode = args.test or not has_labels
    if test_mode:
        samples, errors = _mc4_test_samples(root)
        sources = [os.path.join(root, "head")]
        if args.val_ratio:
            raise SystemExit("error: --val_ratio needs labelled records; %s is packed as a test set" % root)
    else:
        samples, errors = _read_mc4(root)
        sources = [os.path.join(root, f) for f in labelfiles.MC4_LABEL_FILES]
    split = args.split or ("test" if test_mode else "train")
    splits = _assign_mc4_splits(samples, split, args.val_ratio, args.seed)
    tiles = mc4_tiles(args.head_size, args.eye_size)
    layout = MC4.layout()
    cfg = {"root": root, "tiles": tiles, "layout": layout, "args": args, "head_crop": args.head_crop}
    per_job = 16
    jobs = [{"samples": samples[i:i + per_job], "index": i // per_job, "cfg": cfg,
             "faces": [(s["split"], s["file"], s["line"]) for s in samples[i:i + per_job]]}
            for i in range(0, len(samples), per_job)]
    metas = {}
    for sp in splits:
        meta = gaze_meta(MC4, sources, args, tiles)
        meta["labelled"] = not test_mode
        meta["head_crop"] = args.head_crop
        meta["split"] = {"name": sp, "val_ratio": args.val_ratio, "seed": args.seed}
        metas[sp] = meta
    parse_rejects = [Reject(split, er.file, er.line, er.reason) for er in errors]
    return run_pack({sp: os.path.join(args.out, sp) for sp in splits}, metas, jobs, mc4_worker, parse_rejects,
                    args.jobs, "mc4")


# --------------------------------------------------------------------------
# MPIIFaceGaze (normalised release): p00.mat .. p14.mat, MATLAB 7.3 (HDF5)

MPII_CHUNK = 250  # images per job


def _open_mpii(path):
    import h5py
    f = h5py.File(path, "r")
    try:
        data, label = f["Data"]["data"], f["Data"]["label"]
    except KeyError:
        f.close()
        raise SystemExit("error: %s has no Data/data and Data/label (the normalised MPIIFaceGaze .mat layout)" % path)
    if data.ndim != 4 or data.shape[1] != 3 or label.ndim != 2 or label.shape[1] < 16 or \
            label.shape[0] != data.shape[0]:
        f.close()
        raise SystemExit("error: %s: Data/data %s and Data/label %s are not (N, 3, H, W) and (N, 16)"
                         % (path, data.shape, label.shape))
    return f, data, label


def mpii_worker(job):
    """Images ``start..stop`` of one person file: (N, 3, H, W) BGR, rows on axis 2 (as read by h5py)."""
    cfg = job["cfg"]
    res = JobResult()
    split = job["split"]
    f, data, label = _open_mpii(job["path"])
    try:
        imgs = data[job["start"]:job["stop"]]
        labs = label[job["start"]:job["stop"]]
    finally:
        f.close()
    size = cfg["size"]
    for k, (img, lab) in enumerate(zip(imgs, labs)):
        n = job["start"] + k + 1
        try:
            lab = np.asarray(lab, dtype=np.float64)
            if not np.all(np.isfinite(lab[:16])):
                raise Rejected("label has nan or inf")
            pitch, yaw, hp, hy = lab[:4]
            if abs(pitch) > np.pi / 2 or abs(yaw) > np.pi:
                raise Rejected("gaze (%.3f, %.3f) is not radians within (+-pi/2, +-pi)" % (pitch, yaw))
            hwc = np.ascontiguousarray(np.asarray(img).transpose(1, 2, 0))
            side = hwc.shape[0]
            if size != side:
                hwc = cv2.resize(hwc, (size, size), interpolation=cv2.INTER_AREA)
            points = lab[4:16].reshape(6, 2) * (size / side)
            out = cfg["layout"].pack(has_label=1, gaze=(pitch, yaw), head=(hp, hy),
                                     gaze_vector=MPIIFACEGAZE.to_vector((pitch, yaw)), points=points, line=n)
            res.records.append(Record(split, out, encode(hwc, cfg["args"]), {"image": "%s:%d" % (split, n), "line": n}))
        except Rejected as err:
            res.rejects.append(Reject(split, job["path"], n, "image %d: %s" % (n, err)))
    return res


def pack_mpiifacegaze(args):
    import glob
    files = sorted(glob.glob(os.path.join(args.dir, "p[0-9][0-9].mat")))
    if args.persons:
        keep = {p.strip() for p in args.persons.split(",")}
        files = [f for f in files if os.path.basename(f)[:-4] in keep]
    if not files:
        raise SystemExit("error: %s: no p00.mat .. p14.mat files" % args.dir)
    layout = MPIIFACEGAZE.layout()
    prefixes, metas, jobs = {}, {}, []
    for path in files:
        person = os.path.basename(path)[:-4]
        f, data, _ = _open_mpii(path)
        n = data.shape[0]
        f.close()
        prefixes[person] = os.path.join(args.out, person)
        metas[person] = gaze_meta(MPIIFACEGAZE, [path], args, face_tiles(args.size))
        metas[person]["person"] = person
        cfg = {"size": args.size, "layout": layout, "args": args}
        for start in range(0, n, MPII_CHUNK):
            stop = min(n, start + MPII_CHUNK)
            jobs.append({"path": path, "start": start, "stop": stop, "split": person, "index": len(jobs),
                         "cfg": cfg, "faces": [(person, path, i + 1) for i in range(start, stop)]})
    return run_pack(prefixes, metas, jobs, mpii_worker, [], args.jobs, "mpiifacegaze")


# --------------------------------------------------------------------------
# Gaze360: imgs/rec_XXX/head/<person>/<frame>.jpg and split files

GAZE360_SPLITS = ("train.txt", "validation.txt", "test.txt")


def _gaze360_frames(root, rel):
    """The 7 frame paths around a split-file path ``rec_XXX/head/<person>/<frame>.jpg``."""
    parts = rel.split("/")
    frame = int(os.path.splitext(parts[-1])[0])
    half = GAZE360_FRAMES // 2
    return [os.path.join(root, "imgs", *parts[:-1], "%06d.jpg" % (frame + k)) for k in range(-half, half + 1)]


def gaze360_worker(job):
    cfg = job["cfg"]
    res = JobResult()
    split = job["split"]
    for s in job["samples"]:
        try:
            paths = _gaze360_frames(cfg["root"], s["rel"])
            if cfg["missing_frames"] == "reject":
                missing = [p for p in paths if not os.path.isfile(p)]
                if missing:
                    raise Rejected("frame file not found: %s%s (a sequence needs frames -3..+3; the first and last "
                                   "3 frames of a recording are never centres)"
                                   % (missing[0], "" if len(missing) == 1 else " and %d more" % (len(missing) - 1)))
                views = {t["name"]: read_image(p) for t, p in zip(cfg["tiles"], paths)}
            else:  # the source's loader: a frame it cannot open is a white image (the centre too)
                views = {}
                for k, (t, p) in enumerate(zip(cfg["tiles"], paths)):
                    try:
                        views[t["name"]] = read_image(p)
                    except Rejected as err:
                        views[t["name"]] = np.full((t["h"], t["w"], 3), 255, np.uint8)
                        centre = k == GAZE360_FRAMES // 2
                        res.count((split, "white_centre_frames" if centre else "white_frames"))
                        res.notes.append(Reject(split, s["file"], s["line"], "%s frame %+d made white: %s"
                                                % ("centre" if centre else "sequence", k - GAZE360_FRAMES // 2, err)))
            img = tile(views, cfg["tiles"])
            raw = np.asarray(s["vector"], dtype=np.float64)
            g = geometry.gaze360_to_vector(raw)
            label = cfg["layout"].pack(has_label=1, gaze=GAZE360.from_vector(g), gaze_vector=g,
                                       gaze360_vector=raw / np.linalg.norm(raw), line=s["line"])
            res.records.append(Record(split, label, encode(img, cfg["args"]), {"image": s["rel"], "line": s["line"]}))
        except Rejected as err:
            res.rejects.append(Reject(split, s["file"], s["line"], str(err)))
    return res


def _read_gaze360_split(path):
    samples, errors = [], []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            tok = line.replace("\t", " ").split()
            if not tok:
                continue
            try:
                if len(tok) != 4:
                    raise ValueError("expected 4 tokens (path gx gy gz), got %d" % len(tok))
                v = labelfiles.parse_floats(tok[1:], "gaze vector")
                if np.linalg.norm(v) < 1e-6:
                    raise ValueError("gaze vector (%s) is not a finite non-zero vector" % " ".join(tok[1:]))
                int(os.path.splitext(tok[0].split("/")[-1])[0])
            except ValueError as e:
                errors.append(labelfiles.LineError(path, n, str(e).replace("invalid literal for int() with base 10",
                                                                           "frame name is not a number")))
                continue
            samples.append({"rel": tok[0], "vector": v.tolist(), "file": path, "line": n})
    return samples, errors


def pack_gaze360(args):
    files = args.splits or [os.path.join(args.dir, s) for s in GAZE360_SPLITS
                            if os.path.isfile(os.path.join(args.dir, s))]
    if not files:
        raise SystemExit("error: %s: no split files (train.txt, validation.txt, test.txt); pass --splits" % args.dir)
    layout = GAZE360.layout()
    tiles = frame_tiles(args.size)
    prefixes, metas, jobs, parse_rejects = {}, {}, [], []
    for path in files:
        split = os.path.splitext(os.path.basename(path))[0]
        samples, errors = _read_gaze360_split(path)
        parse_rejects += [Reject(split, e.file, e.line, e.reason) for e in errors]
        prefixes[split] = os.path.join(args.out, split)
        metas[split] = gaze_meta(GAZE360, [path], args, tiles)
        cfg = {"root": args.dir, "tiles": tiles, "layout": layout, "args": args, "missing_frames": args.missing_frames}
        per_job = 8
        for i in range(0, len(samples), per_job):
            chunk = samples[i:i + per_job]
            jobs.append({"samples": chunk, "split": split, "index": len(jobs), "cfg": cfg,
                         "faces": [(split, s["file"], s["line"]) for s in chunk]})
    return run_pack(prefixes, metas, jobs, gaze360_worker, parse_rejects, args.jobs, "gaze360")
