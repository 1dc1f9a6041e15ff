"""The packing engine every format shares.

A packer turns its label files into *jobs* (usually one per photo).  A job
runs in a worker process and returns the records and rejects it produced;
the main process writes records in job order, so archives are identical for
any ``-j``.  Bad lines are rejected with file, line and reason, counted in
``meta.json`` and listed in ``<prefix>.rejects.txt``; they never stop the run.
"""
import logging
import multiprocessing as mp
import os
from dataclasses import dataclass, field

import cv2
import numpy as np
from tqdm import tqdm

from recordio import geometry, imagefile
from recordio.schema import PROJECT_VERSION
from recordio.writer import ArchiveWriter, encode_image

log = logging.getLogger("make_rec")


class Rejected(Exception):
    """A face or record that cannot be packed; the message says why."""


@dataclass
class Record:
    split: str
    label: np.ndarray
    image: bytes
    source: dict


@dataclass
class Reject:
    split: str
    file: str
    line: int
    reason: str

    def __str__(self):
        if not self.line:  # a file without lines (an image of a test set)
            return "%s: %s" % (self.file, self.reason)
        return "%s:%d: %s" % (self.file, self.line, self.reason)


@dataclass
class JobResult:
    records: list = field(default_factory=list)
    rejects: list = field(default_factory=list)
    counts: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)  # Reject-shaped: a sample kept, with what was put in for a fault

    def count(self, key, n=1):
        self.counts[key] = self.counts.get(key, 0) + n


def read_image(path, flags=cv2.IMREAD_COLOR):
    """Read a whole photo or raise ``Rejected`` saying whether it is missing, cut short or corrupt
    (``recordio.imagefile``: a JPEG cut short still decodes, so the file's structure is checked too)."""
    try:
        return imagefile.read(path, flags)
    except imagefile.ImageProblem as e:
        raise Rejected(str(e))


def crop(image, box, out_w, out_h, border_value=0):
    """Crop ``box`` (photo px) to an out_w x out_h image.

    Returns
    -------
    crop : image
    to_photo : 2x3 affine, crop px -> photo px (what labels store)
    to_crop : 2x3 affine, photo px -> crop px
    """
    to_crop = geometry.box_to_crop_affine(box, out_w, out_h)
    interp = cv2.INTER_AREA if (box[2] - box[0]) > out_w else cv2.INTER_LINEAR
    out = geometry.warp(image, to_crop, out_w, out_h, border_value=border_value, interpolation=interp)
    return out, geometry.invert_affine(to_crop), to_crop


def _run(worker, job):
    try:
        return worker(job)
    except Rejected as e:  # a job-level rejection, e.g. an unreadable photo
        result = JobResult()
        for split, file, line in job["faces"]:
            result.rejects.append(Reject(split, file, line, str(e)))
        return result


class _Call:
    def __init__(self, worker):
        self.worker = worker

    def __call__(self, job):
        return _run(self.worker, job)


def run_pack(out_prefixes, metas, jobs, worker, parse_rejects=(), num_workers=1, desc="packing"):
    """Run ``jobs`` through ``worker`` and write one archive per split.

    Parameters
    ----------
    out_prefixes : {split: prefix}
    metas : {split: meta dict} (``label_layout_obj`` a LabelLayout)
    jobs : list of dicts; each has ``faces``: [(split, file, line)] so a job
        that fails as a whole rejects all its faces.
    worker : picklable callable job -> JobResult.
    parse_rejects : Reject list from parsing.

    Returns
    -------
    {split: {"prefix", "written", "rejected", ...counts}}; each split's rejects go to ``PREFIX.rejects.txt`` and
    its notes (samples kept with something put in for a fault, e.g. Gaze360's white frames) to ``PREFIX.notes.txt``.
    """
    writers = {s: ArchiveWriter(p, metas[s]) for s, p in out_prefixes.items()}
    rejects = {s: [] for s in out_prefixes}
    counts = {s: {} for s in out_prefixes}
    notes = {s: [] for s in out_prefixes}
    for r in parse_rejects:
        rejects[r.split].append(r)
    call = _Call(worker)
    try:
        if num_workers > 1 and len(jobs) > 1:
            ctx = mp.get_context("fork")
            with ctx.Pool(num_workers) as pool:
                chunk = max(1, min(16, len(jobs) // (num_workers * 8)))
                results = pool.imap(call, jobs, chunksize=chunk)
                _consume(results, writers, rejects, counts, notes, len(jobs), desc)
        else:
            _consume(map(call, jobs), writers, rejects, counts, notes, len(jobs), desc)
    except BaseException:
        for w in writers.values():
            w.abort()
        raise
    summary = {}
    for s, w in writers.items():
        for suffix, rows in ((".rejects.txt", rejects[s]), (".notes.txt", notes[s])):
            path = w.prefix + suffix
            if rows:
                rows.sort(key=lambda r: (r.file, r.line))
                with open(path, "w") as f:
                    f.write("".join("%s\n" % r for r in rows))
            elif os.path.exists(path):
                os.remove(path)
        w.close(rejected=len(rejects[s]), extra_counts=counts[s])
        summary[s] = dict(prefix=w.prefix, written=w.count, rejected=len(rejects[s]), **counts[s])
    return summary, rejects


def _consume(results, writers, rejects, counts, notes, total, desc):
    for res in tqdm(results, total=total, desc=desc, unit="job", mininterval=0.5, dynamic_ncols=True):
        for rec in res.records:
            writers[rec.split].write(rec.label, rec.image, rec.source)
        for rej in res.rejects:
            rejects[rej.split].append(rej)
        for note in res.notes:
            notes[note.split].append(note)
        for key, n in res.counts.items():
            split, name = key
            counts[split][name] = counts[split].get(name, 0) + n


def base_meta(task, source_format, sources, args, layout, image, schema=None, tiles=None):
    meta = {"task": task, "source_format": source_format, "source_files": [os.path.abspath(s) for s in sources],
            "packer_args": {k: v for k, v in vars(args).items() if k != "func"}, "label_layout_obj": layout,
            "image": image, "schema": schema, "tiles": tiles, "project_version": PROJECT_VERSION}
    return meta


def encode(img, args):
    return encode_image(img, args.encoding, args.quality)


def print_summary(summary, rejects):
    lines = []
    for split, s in summary.items():
        extra = ", ".join("%s %d" % (k, v) for k, v in s.items() if k not in ("prefix", "written", "rejected"))
        lines.append("%s: %d written, %d rejected%s -> %s.rec" % (split, s["written"], s["rejected"],
                                                                  (", " + extra) if extra else "", s["prefix"]))
        for r in rejects[split][:5]:
            lines.append("  rejected %s" % r)
        if len(rejects[split]) > 5:
            lines.append("  ... %d more in %s.rejects.txt" % (len(rejects[split]) - 5, s["prefix"]))
    return "\n".join(lines)
