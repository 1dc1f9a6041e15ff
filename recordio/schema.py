"""Landmark schemas, label layouts and archive metadata: the data contract.

Everything here is plain numpy/json so that every other folder can import it.

Conventions (see DESIGN.md): pixel coordinates are continuous, (0, 0) is the
top-left corner of the top-left pixel; a horizontal flip maps x to W - x and
permutes points by the schema's ``flip_perm``.
"""
import json
import os
from dataclasses import dataclass, field

import numpy as np

from recordio.errors import UserError

PROJECT_VERSION = "0.1.0"
FORMAT_VERSION = 1


class ArchiveError(UserError, ValueError):
    """An archive or its metadata is missing, corrupt or inconsistent."""


@dataclass(frozen=True)
class LandmarkSchema:
    """A landmark annotation scheme.

    Attributes
    ----------
    name : str
    num_points : int
    flip_perm : tuple of int
        ``flipped[i] = points[flip_perm[i]]`` after mirroring x.
    norm_pair : tuple of int
        The two points whose ground-truth distance normalises NME
        (outer eye corners).
    groups : dict
        Named index ranges (for drawing and per-region errors).
    box_from_points : tuple or None
        The annotators' face box from the tight box of the points, as a ``geometry.map_box`` map (centre
        offset and size ratio in units of the tight box), where the dataset's boxes follow one convention.
    """

    name: str
    num_points: int
    flip_perm: tuple
    norm_pair: tuple
    groups: dict = field(default_factory=dict)
    box_from_points: tuple = None

    def __post_init__(self):
        perm = np.asarray(self.flip_perm)
        if sorted(perm.tolist()) != list(range(self.num_points)):
            raise ValueError("flip_perm of %s is not a permutation" % self.name)
        if not np.array_equal(perm[perm], np.arange(self.num_points)):
            raise ValueError("flip_perm of %s is not an involution" % self.name)


_WFLW_FLIP = (
    list(range(32, -1, -1))
    + [46, 45, 44, 43, 42, 50, 49, 48, 47, 37, 36, 35, 34, 33, 41, 40, 39, 38]
    + [51, 52, 53, 54, 59, 58, 57, 56, 55]
    + [72, 71, 70, 69, 68, 75, 74, 73, 64, 63, 62, 61, 60, 67, 66, 65]
    + [82, 81, 80, 79, 78, 77, 76, 87, 86, 85, 84, 83, 92, 91, 90, 89, 88, 95, 94, 93]
    + [97, 96]
)

WFLW98 = LandmarkSchema(
    name="wflw98",
    num_points=98,
    flip_perm=tuple(_WFLW_FLIP),
    norm_pair=(60, 72),
    groups={
        "contour": list(range(0, 33)),
        "brow_l": list(range(33, 42)),
        "brow_r": list(range(42, 51)),
        "nose": list(range(51, 60)),
        "eye_l": list(range(60, 68)),
        "eye_r": list(range(68, 76)),
        "lips_outer": list(range(76, 88)),
        "lips_inner": list(range(88, 96)),
        "pupils": [96, 97],
    },
)

COURSE21 = LandmarkSchema(
    name="course21",
    num_points=21,
    flip_perm=(5, 4, 3, 2, 1, 0, 9, 8, 7, 6, 12, 11, 10, 13, 14, 15, 17, 16, 18, 20, 19),
    norm_pair=(6, 9),
    groups={
        "brows": [0, 1, 2, 3, 4, 5],
        "eye_corners": [6, 7, 8, 9],
        "nose": [10, 11, 12, 18],
        "mouth": [13, 14, 15, 19, 20],
        "pupils": [16, 17],
    },
    # the course's boxes are squares about 1.31 times the points' tight box, reaching lower (the chin):
    # the median over the 1110 training faces of folder I (geometry.fit_box_map)
    box_from_points=(0.0123, 0.1066, 1.3078, 1.3287),
)

# Each course21 point as the mean of WFLW points (same anatomical definition):
# brows outer/middle/inner, eye corners, nose wings and base, lip centre line,
# pupils, nose tip, mouth corners.  Point 14 (mouth centre) is the middle of
# the inner lips.
WFLW98_TO_COURSE21 = (
    (33,), (35,), (37,), (42,), (44,), (46,),
    (60,), (64,), (68,), (72,),
    (55,), (57,), (59,),
    (79,), (90, 94), (85,),
    (96,), (97,), (54,),
    (76,), (82,),
)

# The standard WFLW -> iBUG 68 correspondence.
WFLW98_TO_IBUG68 = (
    tuple(range(0, 33, 2))
    + (33, 34, 35, 36, 37, 42, 43, 44, 45, 46)
    + (51, 52, 53, 54, 55, 56, 57, 58, 59)
    + (60, 61, 63, 64, 65, 67, 68, 69, 71, 72, 73, 75)
    + tuple(range(76, 96))
)


def _derived_flip(mapping, parent):
    """Flip permutation of a schema defined as a subset of ``parent``."""
    parent_perm = np.asarray(parent.flip_perm)
    lookup = {tuple(sorted(m)): i for i, m in enumerate(mapping)}
    return tuple(lookup[tuple(sorted(parent_perm[list(m)].tolist()))] for m in mapping)


IBUG68 = LandmarkSchema(
    name="ibug68",
    num_points=68,
    flip_perm=_derived_flip([(i,) for i in WFLW98_TO_IBUG68], WFLW98),
    norm_pair=(36, 45),
    groups={
        "jaw": list(range(0, 17)),
        "brows": list(range(17, 27)),
        "nose": list(range(27, 36)),
        "eyes": list(range(36, 48)),
        "mouth": list(range(48, 68)),
    },
)

SCHEMAS = {s.name: s for s in (WFLW98, COURSE21, IBUG68)}

# The six points gaze inputs are built from (data normalisation's face centre, MC4's eye views), as WFLW
# points: the image-left eye's outer and inner corners, the image-right eye's inner and outer corners, the
# left and right mouth corners.
GAZE_POINTS = (60, 64, 68, 72, 76, 82)


def get_schema(name):
    """Return the landmark schema called ``name``."""
    try:
        return SCHEMAS[name]
    except KeyError:
        raise ValueError("unknown landmark schema %r; valid: %s" % (name, ", ".join(sorted(SCHEMAS))))


def convert_points(points_wflw98, target):
    """Convert (..., 98, 2|3) WFLW points to another schema by its definition."""
    pts = np.asarray(points_wflw98, dtype=np.float64)
    if target == "wflw98":
        return pts.copy()
    mapping = {"course21": WFLW98_TO_COURSE21, "ibug68": [(i,) for i in WFLW98_TO_IBUG68]}[target]
    return np.stack([pts[..., list(m), :].mean(axis=-2) for m in mapping], axis=-2)


def gaze_point_indices(name):
    """The indices of ``GAZE_POINTS`` in schema ``name`` (each defined as exactly that WFLW point).

    Raises ValueError naming the points the schema lacks.
    """
    get_schema(name)
    if name == "wflw98":
        return GAZE_POINTS
    mapping = {"course21": WFLW98_TO_COURSE21, "ibug68": [(i,) for i in WFLW98_TO_IBUG68]}[name]
    where = {tuple(m): i for i, m in enumerate(mapping)}
    missing = [p for p in GAZE_POINTS if (p,) not in where]
    if missing:
        raise ValueError("schema %s has no points for WFLW %s (eye and mouth corners), which gaze inputs need"
                         % (name, missing))
    return tuple(where[(p,)] for p in GAZE_POINTS)


WFLW_ATTRIBUTES = ("pose", "expression", "illumination", "makeup", "occlusion", "blur")


# --------------------------------------------------------------------------
# Label layouts


@dataclass(frozen=True)
class Field:
    """A label field; ``repeated`` (the last field only): any number of rows of ``length`` values."""

    name: str
    length: int
    unit: str
    doc: str = ""
    repeated: bool = False


class LabelLayout:
    """An ordered set of named fields that make up a record's float32 label.

    >>> layout = landmark_layout(COURSE21)
    >>> vec = layout.pack(points=np.zeros((21, 2)), face=1)
    >>> layout.get(vec, "points").shape
    (42,)
    """

    def __init__(self, fields):
        self.fields = tuple(fields)
        if any(f.repeated for f in self.fields[:-1]):
            raise ValueError("only the last field of a label layout can repeat")
        self.row = self.fields[-1].length if self.fields and self.fields[-1].repeated else 0
        self.offsets = {}
        off = 0
        for f in self.fields:
            self.offsets[f.name] = (off, f.length)
            off += 0 if f.repeated else f.length
        self.width = off  # the fixed part; a repeated last field adds rows

    def fits(self, size):
        """Whether a label of ``size`` floats fits the layout (the fixed part and whole rows of a repeated one)."""
        return size == self.width if not self.row else size >= self.width and (size - self.width) % self.row == 0

    def __contains__(self, name):
        return name in self.offsets

    def slice(self, name):
        off, n = self.offsets[name]
        return slice(off, off + n)

    def get(self, label, name):
        """``label[..., field]`` for one label vector or a batch of them; a repeated field of one label comes
        back as its rows (n, length)."""
        if self.row and name == self.fields[-1].name:
            return np.asarray(label)[self.width:].reshape(-1, self.row)
        return np.asarray(label)[..., self.slice(name)]

    def pack(self, **values):
        """Build a float32 label vector; unnamed fields are zero (a repeated field: no rows)."""
        rows = np.zeros(0, np.float32)
        if self.row and self.fields[-1].name in values:
            rows = np.asarray(values.pop(self.fields[-1].name), dtype=np.float32).reshape(-1, self.row).ravel()
        vec = np.zeros(self.width, dtype=np.float32)
        for name, value in values.items():
            if name not in self.offsets:
                raise KeyError("label layout has no field %r; fields: %s" % (name, ", ".join(self.offsets)))
            vec[self.slice(name)] = np.asarray(value, dtype=np.float32).ravel()
        return np.concatenate([vec, rows])

    def to_meta(self):
        return {f.name: dict({"offset": self.offsets[f.name][0], "length": f.length, "unit": f.unit, "doc": f.doc},
                             **({"repeated": True} if f.repeated else {})) for f in self.fields}

    @classmethod
    def from_meta(cls, meta):
        items = sorted(meta.items(), key=lambda kv: kv[1]["offset"])
        layout = cls([Field(k, v["length"], v["unit"], v.get("doc", ""), v.get("repeated", False)) for k, v in items])
        for name, v in meta.items():
            if layout.offsets[name][0] != v["offset"]:
                raise ArchiveError("label layout has a gap or overlap at field %r" % name)
        return layout

    def __eq__(self, other):
        return isinstance(other, LabelLayout) and self.to_meta() == other.to_meta()


def landmark_layout(schema):
    """Label layout of a landmark record for ``schema`` (crop pixels + crop affine)."""
    return LabelLayout([
        Field("face", 1, "flag", "1 face, 0 non-face crop (landmarks then meaningless)"),
        Field("points", 2 * schema.num_points, "px", "x, y per point in crop pixels"),
        Field("affine", 6, "matrix", "2x3 row-major, crop px -> original photo px"),
        Field("box", 4, "px", "face box x1, y1, x2, y2 in original photo px"),
        Field("euler", 3, "deg", "head pitch, yaw, roll from the landmarks (headpose.euler_from_landmarks)"),
        Field("attributes", 6, "flag", "WFLW pose, expression, illumination, make-up, occlusion, blur"),
        Field("line", 1, "index", "1-based line (or annotation index) in the source label file"),
    ])


DETECTION_HEADER = (2, 5)  # gluoncv's detection record header: its own length, then the width of an object row


def detection_layout():
    """Label layout of a detection record, gluoncv's format (``gluoncv.data.RecordFileDetection``,
    ``mx.io.ImageDetRecordIter``): the header (2, 5), then one row per face: class (0), x1, y1, x2, y2 as shares
    of the photo's width and height, in the annotators' box convention."""
    return LabelLayout([
        Field("header", 2, "count", "2 (this header's length) and 5 (an object row's width), as gluoncv reads"),
        Field("faces", 5, "share", "class 0 (face), x1, y1, x2, y2 as shares of the photo's width and height",
              repeated=True),
    ])


def mc4_layout():
    """Label layout of an MC4 record (angles in degrees, MC4's (lo, la))."""
    return LabelLayout([
        Field("has_label", 1, "flag", "0 for test records packed from images only"),
        Field("head", 2, "deg", "head lo, la"),
        Field("eye", 2, "deg", "eye-in-head lo, la"),
        Field("gaze", 2, "deg", "gaze lo, la"),
        Field("gaze_vector", 3, "unit", "gaze unit vector, camera frame x right, y down, z forward"),
        Field("line", 1, "index", "1-based record number in the label files"),
    ])


def mpiifacegaze_layout():
    """Label layout of a normalised MPIIFaceGaze record (radians, MPIIFaceGaze's (pitch, yaw))."""
    return LabelLayout([
        Field("has_label", 1, "flag", "1 for labelled records"),
        Field("gaze", 2, "rad", "gaze pitch, yaw in the normalised camera"),
        Field("head", 2, "rad", "head pose pitch, yaw in the normalised camera"),
        Field("gaze_vector", 3, "unit", "gaze unit vector, normalised camera frame x right, y down, z forward"),
        Field("points", 12, "px", "6 facial points (eye corners, mouth corners) in stored image px"),
        Field("line", 1, "index", "1-based image index in the person's .mat file"),
    ])


def gaze360_layout():
    """Label layout of a Gaze360 record (7-frame sequence; radians, Gaze360's (yaw, pitch))."""
    return LabelLayout([
        Field("has_label", 1, "flag", "1 for labelled records"),
        Field("gaze", 2, "rad", "yaw, pitch of the centre frame (Gaze360 convention)"),
        Field("gaze_vector", 3, "unit", "gaze unit vector, camera frame x right, y down, z forward"),
        Field("gaze360_vector", 3, "unit", "the split file's vector, Gaze360 eye frame x left, y up, z away"),
        Field("line", 1, "index", "1-based line in the split file"),
    ])


# --------------------------------------------------------------------------
# Gaze datasets: one declared entry each


def mc4_tiles(head, eye):
    """MC4 views tiled into one image: the head square on the left, the two eye squares stacked on its right."""
    return [{"name": "head", "x": 0, "y": 0, "w": head, "h": head},
            {"name": "l_eye", "x": head, "y": 0, "w": eye, "h": eye},
            {"name": "r_eye", "x": head, "y": eye, "w": eye, "h": eye}]


def face_tiles(size):
    """One view: the normalised face."""
    return [{"name": "face", "x": 0, "y": 0, "w": size, "h": size}]


GAZE360_FRAMES = 7  # the centre frame and 3 on each side


def frame_tiles(size, frames=GAZE360_FRAMES):
    """A row of ``frames`` square views, oldest frame first, named by their offset from the centre frame."""
    half = frames // 2
    return [{"name": "frame%+d" % (k - half), "x": k * size, "y": 0, "w": size, "h": size} for k in range(frames)]


def tiles_size(tiles):
    """(width, height) of the canvas a tile grid covers."""
    return max(t["x"] + t["w"] for t in tiles), max(t["y"] + t["h"] for t in tiles)


@dataclass(frozen=True)
class GazeDataset:
    """What a gaze dataset's labels mean and what its networks take and give.

    Attributes
    ----------
    name : str
        The dataset (``mc4``, ``mpiifacegaze``, ``gaze360``).
    task : str
        The ``task`` its archives' meta.json holds.
    layout : callable
        () -> the records' LabelLayout.
    angles : dict
        The angle convention, its unit and the camera frame of the ``gaze`` field (written into meta.json).
    to_vector, from_vector : callable
        The dataset's (N, 2) gaze angles <-> camera-frame unit vectors (N, 3) (``geometry`` functions).
    views : tuple of str
        The views of a sample, tiled into one image (``tiles``).
    tiles : callable
        Sizes -> the tile grid; ``size_args`` maps each size to the training argument that sets it.
    input : str
        What the network takes, for whoever builds it from a photo.
    outputs : tuple of dict
        The network's outputs in order (name, shape, unit); ``gaze_output`` is the one holding the gaze angles
        in its first two columns; ``parts`` other outputs scored like it against the label field of the same
        name; ``sigma`` True when column 2 of the gaze output is the 10-90% interval half-width (radians).
    flip_angles, flip_vectors : tuple of str
        Label fields a horizontal flip changes: angle pairs in the dataset's convention, flipped through
        their vectors (``from_vector(geometry.flip_vector(to_vector(a)))``: every yaw-like angle negated),
        and direction vectors (``geometry.flip_vector``).
    flip_swaps : tuple of (view, view)
        Views that trade places in a flip (the mirrored left eye is the right one).
    flip_points : tuple or None
        Permutation of the ``points`` field's points in a flip.
    default_model, models : str, tuple of str
        The seed's network, and the registered networks that take this input.
    default_loss : str
    view : dict
        How the network's input is cut from a camera image (``recordio.gazeviews``): ``kind`` and its
        constants; the renderer, the packers and deploy/analyze.py all read them here.
    linear_output : bool
        The gaze output is the angles themselves (no squashing), so training can start it at the mean gaze.
    front_subsets : bool
        Scores also report the front 180 degrees and front-facing gaze (Gaze360's convention).
    """

    name: str
    task: str
    layout: object
    angles: dict
    to_vector: object
    from_vector: object
    views: tuple
    tiles: object
    size_args: dict
    input: str
    outputs: tuple
    gaze_output: int
    default_model: str
    models: tuple
    default_loss: str
    view: dict = field(default_factory=dict)
    parts: tuple = ()
    sigma: bool = False
    flip_angles: tuple = ()
    flip_vectors: tuple = ()
    flip_swaps: tuple = ()
    flip_points: tuple = None
    linear_output: bool = False
    front_subsets: bool = False

    def __post_init__(self):
        layout = self.layout()
        for name, length in [(f, 2) for f in self.flip_angles] + [(f, 3) for f in self.flip_vectors]:
            if name not in layout or layout.offsets[name][1] != length:
                raise ValueError("gaze dataset %s flips %s, which its layout lacks" % (self.name, name))
        if self.flip_points is not None:
            k = layout.offsets["points"][1] // 2
            if sorted(self.flip_points) != list(range(k)):
                raise ValueError("flip_points of %s is not a permutation of its %d points" % (self.name, k))
        views = {t["name"] for t in self.tiles(**{k: 8 for k in self.size_args})}
        if views != set(self.views) or any(a not in views or b not in views for a, b in self.flip_swaps):
            raise ValueError("gaze dataset %s: tiles %s do not match views %s" % (self.name, sorted(views), self.views))

    def network_tiles(self, args):
        """The tile grid of the network's input, sized by the training arguments (``size_args``)."""
        return self.tiles(**{k: getattr(args, a) for k, a in self.size_args.items()})

    def output_angles(self, outputs):
        """(N, 2) gaze angles from the network's outputs (a list of arrays, one per output)."""
        return np.asarray(outputs[self.gaze_output])[:, :2]

    def output_vectors(self, outputs):
        """(N, 3) camera-frame gaze unit vectors from the network's outputs."""
        return self.to_vector(self.output_angles(outputs))


def _geometry():
    from . import geometry
    return geometry


def _to(name):
    return lambda angles: getattr(_geometry(), name)(*np.moveaxis(np.asarray(angles, np.float64), -1, 0))


def _from(name):
    return lambda vectors: getattr(_geometry(), name)(vectors)


MC4 = GazeDataset(
    name="mc4", task="gaze_mc4", layout=mc4_layout,
    angles={"convention": "mc4", "unit": "deg", "camera_frame": "x right, y down, z forward"},
    to_vector=_to("mc4_to_vector"), from_vector=_from("vector_to_mc4"),
    views=("head", "l_eye", "r_eye"), tiles=mc4_tiles, size_args={"head": "head_size", "eye": "eye_size"},
    input="mc4_views: the head image centre-cropped as the baseline does, and the image-left and image-right "
          "eye images, tiled",
    outputs=({"name": "head", "shape": [2], "unit": "deg, MC4 (lo, la)"},
             {"name": "eye", "shape": [2], "unit": "deg, MC4 (lo, la)"},
             {"name": "gaze", "shape": [2], "unit": "deg, MC4 (lo, la)"}),
    gaze_output=2, parts=(("head", 0), ("eye", 1)),
    # head photos of 320 px whose central 224 px (the baseline's centre crop) hold the head's landmark box
    # grown by 1.25; eye patches of 60 x 36 px, twice as wide as the eye (corner to corner), centred on it
    view={"kind": "mc4_views", "head_photo": 320, "head_crop": 224, "head_box_scale": 1.25,
          "eye_size": (60, 36), "eye_width": 2.0},
    flip_angles=("head", "eye", "gaze"), flip_vectors=("gaze_vector",), flip_swaps=(("l_eye", "r_eye"),),
    default_model="mc4_gazenet", models=("mc4_gazenet",), default_loss="smooth_l1")

MPIIFACEGAZE = GazeDataset(
    name="mpiifacegaze", task="gaze_mpiifacegaze", layout=mpiifacegaze_layout,
    angles={"convention": "mpiifacegaze", "unit": "rad",
            "camera_frame": "normalised camera, x right, y down, z forward"},
    to_vector=_to("pitchyaw_to_vector"), from_vector=_from("vector_to_pitchyaw"),
    views=("face",), tiles=face_tiles, size_args={"size": "input_size"},
    input="normalised_face: the face warped by the data normalisation of Zhang, Sugano and Bulling (ETRA 2018)",
    outputs=({"name": "gaze", "shape": [2], "unit": "rad, MPIIFaceGaze (pitch, yaw)"},),
    gaze_output=0,
    # the release's normalised camera: 448 px images, focal 3200 px at 1000 mm, i.e. 3.2 px per mm at the face
    # centre (hysts/ptgaze's normalised camera for this release: focal 1600 px at 224 px and 1 m); the virtual
    # camera's x axis lies in the plane of the head's x axis (no head roll in a normalised image)
    view={"kind": "normalised_face", "side": 448, "focal": 3200.0, "distance": 1000.0, "roll": "head"},
    flip_angles=("gaze", "head"), flip_vectors=("gaze_vector",),
    flip_points=(3, 2, 1, 0, 5, 4),  # eye corners outer/inner left, inner/outer right, mouth left/right
    default_model="mobile_facegaze", models=("mobile_facegaze", "landmark_gaze"), default_loss="l1", linear_output=True)

GAZE360 = GazeDataset(
    name="gaze360", task="gaze_gaze360", layout=gaze360_layout,
    angles={"convention": "gaze360", "unit": "rad",
            "camera_frame": "x right, y down, z forward (Gaze360's eye frame is x left, y up)"},
    to_vector=_to("yawpitch_to_vector"), from_vector=_from("vector_to_yawpitch"),
    views=tuple("frame%+d" % (k - GAZE360_FRAMES // 2) for k in range(GAZE360_FRAMES)), tiles=frame_tiles,
    size_args={"size": "input_size"},
    input="head_frames: %d head crops of one tracked person, the labelled frame in the middle" % GAZE360_FRAMES,
    outputs=({"name": "gaze", "shape": [3],
              "unit": "rad, Gaze360 (yaw, pitch) and sigma: the 10-90% interval is angle +- sigma"},),
    gaze_output=0, sigma=True,
    # head crops looking at the face centre, upright in the camera (head roll kept), the eye-to-mouth distance
    # 0.27 of the side: a head (245 mm chin to crown) filling the crop as Gaze360's head boxes do
    view={"kind": "head_frames", "eye_mouth_share": 0.27, "roll": "camera"},
    flip_angles=("gaze",), flip_vectors=("gaze_vector", "gaze360_vector"),  # its eye frame mirrors x too
    default_model="gaze360_lstm", models=("gaze360_lstm", "gaze360_static"), default_loss="pinball",
    front_subsets=True)

GAZE_DATASETS = {d.name: d for d in (MC4, MPIIFACEGAZE, GAZE360)}


def archive_tiles(meta):
    """The tile grid of an archive's samples: meta.json's ``tiles``, or one tile covering the image."""
    if meta.get("tiles"):
        return meta["tiles"]
    im = meta["image"]
    return [{"name": gaze_dataset(meta["task"]).views[0], "x": 0, "y": 0, "w": im["width"], "h": im["height"]}]


def gaze_dataset(name_or_task, path=None):
    """The gaze dataset called ``name_or_task`` (``mc4`` or the archive task ``gaze_mc4``)."""
    for d in GAZE_DATASETS.values():
        if name_or_task in (d.name, d.task):
            return d
    raise ValueError("%s%r is not a gaze dataset; valid: %s" % ("%s: " % path if path else "", name_or_task,
                                                               ", ".join(GAZE_DATASETS)))


# --------------------------------------------------------------------------
# meta.json

REQUIRED_META = ("format_version", "task", "label_layout", "image", "counts")


def archive_paths(prefix):
    """The three files of an archive: .rec, .idx, .meta.json."""
    prefix = str(prefix)
    for ext in (".rec", ".idx", ".meta.json"):
        if prefix.endswith(ext):
            prefix = prefix[: -len(ext)]
    return prefix + ".rec", prefix + ".idx", prefix + ".meta.json"


def write_meta(prefix, meta):
    path = archive_paths(prefix)[2]
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(meta, f, indent=1, sort_keys=True)
    os.replace(tmp, path)
    return path


def read_meta(prefix):
    """Read and validate ``<prefix>.meta.json``; raise ArchiveError naming the file."""
    path = archive_paths(prefix)[2]
    try:
        with open(path) as f:
            meta = json.load(f)
    except FileNotFoundError:
        raise ArchiveError("%s: archive metadata not found (every archive has .rec, .idx and .meta.json)" % path)
    except json.JSONDecodeError as e:
        raise ArchiveError("%s: not valid JSON: %s" % (path, e))
    missing = [k for k in REQUIRED_META if k not in meta]
    if missing:
        raise ArchiveError("%s: missing keys %s" % (path, ", ".join(missing)))
    if meta["format_version"] != FORMAT_VERSION:
        raise ArchiveError("%s: format version %r, this reader knows %d"
                           % (path, meta["format_version"], FORMAT_VERSION))
    try:
        meta["_layout"] = LabelLayout.from_meta(meta["label_layout"])
    except (KeyError, TypeError, ArchiveError) as e:
        raise ArchiveError("%s: bad label_layout: %s" % (path, e))
    if meta.get("schema") is not None:
        get_schema(meta["schema"])
    meta["_path"] = path
    return meta


# --------------------------------------------------------------------------
# exports (train/export.py writes them, deploy/ reads them)

EXPORT_SUFFIXES = ("-symbol.json", "-0000.params", "-meta.json")
PARAMS_DIGEST = "params_sha256"  # the export meta's (and its ONNX file's) digest of PREFIX-0000.params
DIGEST_CHUNK = 1 << 20  # bytes read at a time when hashing a file


def file_sha256(path):
    """The SHA-256 hex digest of a file's bytes."""
    import hashlib
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(DIGEST_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def export_prefix(prefix):
    """An export's prefix from the prefix itself or any of its files' paths."""
    prefix = str(prefix)
    for suffix in EXPORT_SUFFIXES + (".onnx",):
        if prefix.endswith(suffix):
            return prefix[: -len(suffix)]
    return prefix


def read_export_meta(prefix):
    """``PREFIX-meta.json`` of an export whose three files all exist; raise MissingFile or BadModelFile naming
    the file."""
    from recordio.errors import BadModelFile, MissingFile
    for suffix in EXPORT_SUFFIXES:
        if not os.path.exists(prefix + suffix):
            raise MissingFile("%s%s not found: an export has -symbol.json, -0000.params and -meta.json"
                              % (prefix, suffix))
    path = prefix + "-meta.json"
    try:
        with open(path) as f:
            meta = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BadModelFile("%s: not valid JSON (%s); export the model again" % (path, e))
    if not isinstance(meta, dict) or "input" not in meta:
        raise BadModelFile("%s: not an export's meta (no input); export the model again" % path)
    return meta


def check_params_digest(prefix, meta):
    """Raise BadModelFile when ``PREFIX-0000.params`` is not the file ``meta`` was exported with (its
    ``params_sha256``); exports older than the digest pass."""
    from recordio.errors import BadModelFile
    want = meta.get(PARAMS_DIGEST)
    if want is None:
        return
    got = file_sha256(prefix + "-0000.params")
    if got != want:
        raise BadModelFile("%s-0000.params is not the file %s-meta.json was exported with (%s %s..., the file's "
                           "%s...): the weights were replaced or damaged after export; export the run again with "
                           "python train/export.py RUN_DIR" % (prefix, prefix, PARAMS_DIGEST, want[:12], got[:12]))
