"""Parsers for the label files users bring (pure Python + numpy).

Each parser returns ``(entries, errors)``: entries that parsed, and a
``LineError`` for every line that did not, so one bad line never takes the
good ones with it.  Checks that need the image (missing file, points outside
the photo) belong to the packers.
"""
import json
import os
from dataclasses import dataclass, field

import numpy as np


@dataclass
class LineError:
    file: str
    line: int
    reason: str
    image: str = ""

    def __str__(self):
        return "%s:%d: %s" % (self.file, self.line, self.reason)


@dataclass
class FaceEntry:
    """One annotated face.

    ``points`` (K, 2) and ``box`` (x1, y1, x2, y2) are in original-photo
    pixels (PFLD lists: shares of the side of their photos, which are face crops).
    """

    image: str
    line: int
    file: str
    box: np.ndarray = None
    points: np.ndarray = None
    attributes: np.ndarray = field(default_factory=lambda: np.zeros(6, np.float32))
    euler: np.ndarray = None


def parse_floats(tokens, what):
    """Floats from text tokens; ValueError naming ``what`` for a non-number, nan or inf."""
    try:
        vals = np.array([float(t) for t in tokens], dtype=np.float64)
    except ValueError as e:
        raise ValueError("%s: not a number (%s)" % (what, str(e).split(": ")[-1]))
    if not np.all(np.isfinite(vals)):
        raise ValueError("%s: contains nan or inf" % what)
    return vals


def _check_box(box):
    if box[2] <= box[0] or box[3] <= box[1]:
        raise ValueError("degenerate face box (%g, %g, %g, %g): x2 <= x1 or y2 <= y1" % tuple(box))


def _read_lines(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read().splitlines()


def _read_token_lines(path, count, layout, image_at, build):
    """Every non-empty line of ``path`` split into tokens: ``build(tokens, line)`` makes its entry when it has
    ``count`` tokens (``layout`` says which), else, or when ``build`` raises ValueError, a LineError."""
    entries, errors = [], []
    for n, line in enumerate(_read_lines(path), 1):
        tok = line.split()
        if not tok:
            continue
        try:
            if len(tok) != count:
                raise ValueError("expected %d tokens (%s), got %d" % (count, layout, len(tok)))
            entries.append(build(tok, n))
        except ValueError as e:
            errors.append(LineError(path, n, str(e), tok[image_at]))
    return entries, errors


COURSE21_TOKENS = 1 + 4 + 21 * 2


def read_course21(path):
    """``label.txt`` of the course: ``name x1 y1 x2 y2 px1 py1 ... px21 py21``."""
    def build(tok, n):
        vals = parse_floats(tok[1:], "box/points")
        _check_box(vals[:4])
        return FaceEntry(image=tok[0], line=n, file=path, box=vals[:4], points=vals[4:].reshape(21, 2))

    return _read_token_lines(path, COURSE21_TOKENS, "name, 4 box values, 42 coordinates", 0, build)


WFLW_TOKENS = 98 * 2 + 4 + 6 + 1


def read_wflw(path):
    """WFLW raw annotations: 196 coordinates, box x_min y_min x_max y_max, 6 attributes, image path."""
    def build(tok, n):
        vals = parse_floats(tok[:-1], "coordinates/box/attributes")
        box = vals[196:200]
        _check_box(box)
        attrs = vals[200:206]
        if not np.all(np.isin(attrs, (0, 1))):
            raise ValueError("attributes must be 0 or 1, got %s" % " ".join(tok[200:206]))
        return FaceEntry(image=tok[-1], line=n, file=path, box=box, points=vals[:196].reshape(98, 2),
                         attributes=attrs.astype(np.float32))

    return _read_token_lines(path, WFLW_TOKENS, "196 coordinates, 4 box, 6 attributes, image", -1, build)


PFLD_TOKENS = 1 + 196 + 6 + 3


def read_pfld_list(path):
    """PFLD ``list.txt``: image path, 196 normalised coordinates, 6 attributes, 3 Euler angles."""
    def build(tok, n):
        vals = parse_floats(tok[1:], "coordinates/attributes/angles")
        return FaceEntry(image=tok[0], line=n, file=path, points=vals[:196].reshape(98, 2),
                         attributes=vals[196:202].astype(np.float32), euler=vals[202:205])

    return _read_token_lines(path, PFLD_TOKENS, "image, 196 coordinates, 6 attributes, 3 angles", 0, build)


def read_coco(path):
    """COCO-style keypoint JSON (mmpose): ``bbox`` [x, y, w, h] and flat [x, y, v] keypoints.

    The entry's ``line`` is the 1-based position of the annotation in ``annotations``.
    """
    with open(path) as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as e:
            return [], [LineError(path, e.lineno, "not valid JSON: %s" % e.msg)]
    images = {im.get("id"): im for im in data.get("images", [])}
    entries, errors = [], []
    for n, ann in enumerate(data.get("annotations", []), 1):
        try:
            im = images.get(ann.get("image_id"))
            if im is None:
                raise ValueError("annotation %s refers to image_id %r, which is not in images[]"
                                 % (ann.get("id"), ann.get("image_id")))
            kp = parse_floats(ann.get("keypoints", []), "keypoints")
            if kp.size == 0 or kp.size % 3:
                raise ValueError("keypoints must be a flat [x, y, v] * K list, got %d numbers" % kp.size)
            x, y, w, h = parse_floats(ann.get("bbox", []), "bbox") if "bbox" in ann else (np.nan,) * 4
            box = np.array([x, y, x + w, y + h])
            if "bbox" in ann:
                _check_box(box)
            else:
                box = None
            entries.append(FaceEntry(image=im["file_name"], line=n, file=path, box=box,
                                     points=kp.reshape(-1, 3)[:, :2]))
        except (ValueError, TypeError) as e:
            errors.append(LineError(path, n, "annotation %d: %s" % (n, e)))
    return entries, errors


MC4_LABEL_FILES = ("head_label.txt", "eye_label.txt", "gaze_label.txt")


def read_mc4_labels(path):
    """One MC4 label file: 3 lines per record (name, lo, la in degrees).

    Returns ``({name: (record_number, lo, la)}, errors)``.  A record's line
    number in errors is the line of its name.
    """
    lines = _read_lines(path)
    while lines and not lines[-1].strip():
        lines.pop()
    out, errors = {}, []
    for start in range(0, len(lines), 3):
        chunk = [s.strip() for s in lines[start:start + 3]]
        n = start + 1
        if len(chunk) < 3:
            errors.append(LineError(path, n, "incomplete record: %d of 3 lines (name, lo, la)" % len(chunk),
                                    chunk[0]))
            continue
        name = chunk[0]
        try:
            lo, la = parse_floats(chunk[1:3], "lo/la")
            if abs(lo) > 180 or abs(la) > 90:
                raise ValueError("angles (%g, %g) out of range: lo within +-180, la within +-90 degrees" % (lo, la))
        except ValueError as e:
            errors.append(LineError(path, n, "record %r: %s" % (name, e), name))
            continue
        if name in out:
            errors.append(LineError(path, n, "record %r appears twice (first at line %d)"
                                    % (name, 3 * out[name][0] - 2), name))
            continue
        out[name] = (start // 3 + 1, lo, la)
    return out, errors


def format_mc4_labels(rows):
    """Text of an MC4 label file from (name, lo, la) rows (3 decimals)."""
    return "".join("%s\n%.3f\n%.3f\n" % (name, lo, la) for name, lo, la in rows)


def resolve_image(name, *dirs):
    """First existing path for ``name`` as given or under one of ``dirs``."""
    candidates = [name] + [os.path.join(d, name) for d in dirs if d]
    for c in candidates:
        if os.path.isfile(c):
            return c
    return candidates[-1] if dirs else name
