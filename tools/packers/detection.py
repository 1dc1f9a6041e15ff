"""Detection packer: course21 folders to face-detection archives in gluoncv's RecordIO format.

One record per photo: the photo (its long side scaled down to ``--max_side`` if larger) and the label of
``schema.detection_layout``: gluoncv's header (2, 5) and one row per face, class 0 and the annotated box as
shares of the photo's width and height (``gluoncv.data.RecordFileDetection`` and MXNet's
``ImageDetRecordIter`` read it).  The photos split exactly as ``make_rec course21`` splits them for the same
seed and ratios, so a detector never trains on the landmark recipe's test photos.  A photo with a face whose
line is bad is rejected as a whole (its face would teach the detector that a face is background).
"""
import os

import cv2

from recordio import geometry, labelfiles
from recordio.schema import detection_layout
from tools.packers.common import JobResult, Record, Reject, Rejected, base_meta, encode, read_image, run_pack
from tools.packers.landmarks import course21_splits, read_course21_dirs


def detection_worker(job):
    cfg = job["cfg"]
    res = JobResult()
    split = job["split"]
    img = read_image(job["path"])
    h, w = img.shape[:2]
    scale = min(1.0, cfg["max_side"] / float(max(h, w)))
    if scale < 1.0:
        img = cv2.resize(img, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    rows = []
    for e in job["entries"]:
        box = geometry.clip_box(e.box, w, h)
        if box[2] - box[0] < 1 or box[3] - box[1] < 1:
            raise Rejected("face box at line %d lies outside the %dx%d photo" % (e.line, w, h))
        rows.append([0.0, box[0] / w, box[1] / h, box[2] / w, box[3] / h])
    label = cfg["layout"].pack(header=(2, 5), faces=rows)
    res.records.append(Record(split, label, encode(img, cfg["args"]),
                              {"image": job["image"], "faces": len(rows), "lines": [e.line for e in job["entries"]]}))
    res.count((split, "faces"), len(rows))
    return res


def pack_detection(args):
    entries, errors = read_course21_dirs(args.dirs)
    by_photo = {}
    for e in entries:
        by_photo.setdefault(labelfiles.resolve_image(e.image, os.path.dirname(e.file)), []).append(e)
    bad = {}
    for er in errors:
        bad.setdefault(labelfiles.resolve_image(er.image, os.path.dirname(er.file)) if er.image else None, []).append(er)
    split_of = course21_splits(set(by_photo) | {p for p in bad if p}, args.seed, args.test_ratio, args.val_ratio)
    layout = detection_layout()
    cfg = {"max_side": args.max_side, "layout": layout, "args": args}
    jobs, parse_rejects = [], []
    for index, (path, faces) in enumerate(sorted(by_photo.items())):
        split = split_of[path]
        if path in bad:  # the whole photo goes: one of its faces has no usable box
            for er in bad[path]:
                parse_rejects.append(Reject(split, er.file, er.line, er.reason))
            for f in faces:
                parse_rejects.append(Reject(split, f.file, f.line, "its photo has a face with a bad line (%s:%d)"
                                            % (bad[path][0].file, bad[path][0].line)))
            continue
        jobs.append({"path": path, "image": faces[0].image, "entries": faces, "split": split, "index": index,
                     "cfg": cfg, "faces": [(split, f.file, f.line) for f in faces]})
    for er in bad.get(None, []):
        parse_rejects.append(Reject("train", er.file, er.line, er.reason))
    splits = sorted(set(split_of.values()))
    metas = {}
    for s in splits:
        metas[s] = base_meta("detection", "course21", [os.path.join(d, "label.txt") for d in args.dirs], args, layout,
                             {"max_side": args.max_side, "channels": 3, "color": "bgr", "encoding": args.encoding})
        metas[s]["split"] = {"by": "photo", "seed": args.seed, "test_ratio": args.test_ratio,
                             "val_ratio": args.val_ratio, "name": s}
        metas[s]["classes"] = ["face"]
        metas[s]["box_convention"] = "course21 annotators' boxes"
    return run_pack({s: os.path.join(args.out, s) for s in splits}, metas, jobs, detection_worker, parse_rejects,
                    args.jobs, "detection")
