"""Render synthetic faces with exact geometry.

A face is the 3D model of ``recordio.face3d`` (identity and expression
varied), posed by ``R = R_y(yaw) R_x(pitch) R_z(roll)`` and a translation,
seen by the pinhole camera ``geometry.camera_matrix(W, H)``.  The eyes are
spheres rotated by the eye-in-head angles; the gaze is
``geometry.mc4_compose((yaw, pitch), (eye_lo, eye_la))`` exactly: the eye
angles are taken in the head's yaw-pitch frame (the eyes counter-roll).

Drawing is OpenCV, sub-pixel (``shift``) and anti-aliased: the skull is an
ellipsoid shaded per pixel from its exact ray intersection (its hairline and
silhouette are true 3D), the facial parts are filled and shaded polygons in
depth order, and parts turned away from the camera are not drawn.  Every
label is a projected model point, so it sits on the drawn feature.
"""
from dataclasses import dataclass, field

import cv2
import numpy as np

from recordio import face3d, geometry
from recordio.schema import GAZE_POINTS, WFLW98

SHIFT = 4  # OpenCV fixed-point bits for sub-pixel drawing
SCALE = 1 << SHIFT
# Relative spread (std) of each face proportion.  Face width, face length and
# nose length change the shape along the camera axis that 2D landmarks cannot
# see, so pose from landmarks fitted to one mean face errs by about 1 degree
# per 1% of their spread; they vary less than the rest.
IDENTITY_SPREAD = {"face_width": 0.012, "face_length": 0.012, "nose_length": 0.02, "relief": 0.04,
                   "eye_spacing": 0.05, "eye_size": 0.06, "nose_width": 0.06, "mouth_width": 0.06}
HEAD_HEIGHT_MM = 245.0  # chin to crown, used to turn a wanted size in px into a distance

_G = WFLW98.groups
PARTS = {  # the parts drawn, from the schema's groups: each eye with its pupil, the mouth with both lips
    "brow_l": _G["brow_l"], "brow_r": _G["brow_r"], "eye_l": _G["eye_l"] + [_G["pupils"][0]],
    "eye_r": _G["eye_r"] + [_G["pupils"][1]], "nose": _G["nose"], "mouth": _G["lips_outer"] + _G["lips_inner"],
}
EYE_PARTS = (("eye_l", 0, 96), ("eye_r", 1, 97))


@dataclass
class SynthConfig:
    """Ranges the renderer samples from (degrees, px, probabilities)."""

    yaw: float = 60.0
    pitch: float = 30.0
    roll: float = 30.0
    eye_lo: float = 25.0
    eye_la: float = 15.0
    faces_per_photo: tuple = (1, 3)
    photo_width: tuple = (640, 1024)
    photo_aspect: tuple = (0.65, 1.0)
    head_frac: tuple = (0.2, 0.75)  # head height as a share of the photo height
    outside_prob: float = 0.1  # a face placed partly outside the frame
    occluder_prob: float = 0.15
    blur_prob: float = 0.2
    makeup_prob: float = 0.15
    expression_prob: float = 0.35
    noise_sigma: tuple = (0.0, 6.0)
    jpeg_quality: tuple = (50, 95)


@dataclass
class Face:
    """One rendered face and its ground truth."""

    euler: np.ndarray  # pitch, yaw, roll (deg)
    R: np.ndarray
    t: np.ndarray  # mm, camera frame
    eye: np.ndarray  # eye-in-head lo, la (deg)
    gaze: np.ndarray  # lo, la (deg)
    gaze_vector: np.ndarray
    identity: dict
    expression: dict
    points3d: np.ndarray  # (98, 3) camera frame, mm; pupils are iris centres
    model: np.ndarray = None  # (98, 3) head frame, mm
    points: np.ndarray = None  # (98, 2) photo px
    visible: np.ndarray = None  # (98,) bool
    parts_drawn: dict = field(default_factory=dict)
    attributes: np.ndarray = None  # WFLW flags
    occluder: list = None  # polygon (photo px) drawn over the face, or None
    visible_before_occluder: np.ndarray = None
    self_visible: np.ndarray = None  # (98,) bool: not hidden by the head itself (parts turned away, the nose)
    outline: np.ndarray = None  # the head's outline polygon in photo px
    appearance: dict = field(default_factory=dict)

    @property
    def head(self):
        """Head (lo, la) in MC4's convention: (yaw, pitch)."""
        return np.array([self.euler[1], self.euler[0]])

    def ground_truth(self, photo_size):
        w, h = photo_size
        inside = (self.points[:, 0] >= 0) & (self.points[:, 0] < w) & (self.points[:, 1] >= 0) & \
                 (self.points[:, 1] < h)
        return {
            "pitch": float(self.euler[0]), "yaw": float(self.euler[1]), "roll": float(self.euler[2]),
            "head_lo_la": self.head.tolist(), "eye_lo_la": self.eye.tolist(), "gaze_lo_la": self.gaze.tolist(),
            "gaze_vector": self.gaze_vector.tolist(), "translation_mm": self.t.tolist(),
            "points": np.round(self.points, 4).tolist(), "visible": self.visible.astype(int).tolist(),
            "in_frame": inside.astype(int).tolist(), "attributes": self.attributes.astype(int).tolist(),
            "identity": self.identity, "expression": self.expression,
        }


# --------------------------------------------------------------------------
# sampling


def _palette(rng):
    tone = rng.uniform(0, 1)
    skin = (1 - tone) * np.array([190, 205, 235]) + tone * np.array([55, 80, 120])
    skin = np.clip(skin + rng.normal(0, 8, 3), 20, 250)
    hair = [np.array(c) for c in ([20, 22, 25], [30, 45, 70], [60, 110, 160], [150, 150, 150], [25, 35, 90])]
    iris = [np.array(c) for c in ([30, 50, 80], [140, 100, 60], [70, 110, 60], [50, 60, 70])]
    return {"skin": skin, "hair": hair[rng.integers(len(hair))] * rng.uniform(0.8, 1.2),
            "iris": iris[rng.integers(len(iris))], "lips": skin * [0.72, 0.7, 1.0]}


def sample_identity(rng):
    """Face proportions: each factor of ``IDENTITY_SPREAD`` and the mouth and brow offsets (mm)."""
    idn = {k: float(np.clip(1 + rng.normal(0, sd), 1 - 2.5 * sd, 1 + 2.5 * sd)) for k, sd in IDENTITY_SPREAD.items()}
    idn["mouth_y"] = float(np.clip(rng.normal(0, 2.5), -5, 5))
    idn["brow_y"] = float(np.clip(rng.normal(0, 2.0), -4, 4))
    return idn


def sample_face(rng, cfg, K, centre_px, head_px):
    """Draw identity, expression, pose and eye angles; place the head so its origin projects to ``centre_px``."""
    idn = sample_identity(rng)
    exp = {k: 0.0 for k in face3d.EXPRESSION_DEFAULTS}
    if rng.uniform() < cfg.expression_prob:
        exp["mouth_open"] = float(rng.uniform(2, 22)) if rng.uniform() < 0.6 else 0.0
        exp["brow_raise"] = float(rng.uniform(2, 8)) if rng.uniform() < 0.4 else 0.0
        exp["eye_narrow"] = float(rng.uniform(0.15, 0.5)) if rng.uniform() < 0.3 else 0.0
        exp["smile"] = float(rng.uniform(2, 8)) if rng.uniform() < 0.4 else 0.0
    euler = np.array([rng.uniform(-cfg.pitch, cfg.pitch), rng.uniform(-cfg.yaw, cfg.yaw),
                      rng.uniform(-cfg.roll, cfg.roll)])
    eye = np.array([rng.uniform(-cfg.eye_lo, cfg.eye_lo), rng.uniform(-cfg.eye_la, cfg.eye_la)])
    tz = K[0, 0] * HEAD_HEIGHT_MM / head_px
    t = tz * np.linalg.solve(K, [centre_px[0], centre_px[1], 1.0])
    return pose_face(euler, t, eye, idn, exp)


def pose_face(euler, t, eye, identity=None, expression=None):
    """A ``Face`` with its 3D points in the camera frame (pupils on the rotated eyes)."""
    identity = dict(identity or {})
    expression = dict(expression or {})
    R = geometry.euler_to_matrix(*euler)
    model = face3d.face_points_3d(identity, expression)
    pts = model @ R.T + t
    head = np.array([euler[1], euler[0]])
    g = geometry.mc4_compose_vector(head, eye)
    centres = face3d._eyeball_centres(model) @ R.T + t
    pts[96] = centres[0] + face3d.EYE_RADIUS * g
    pts[97] = centres[1] + face3d.EYE_RADIUS * g
    return Face(euler=np.asarray(euler, float), R=R, t=np.asarray(t, float), eye=np.asarray(eye, float),
                gaze=geometry.vector_to_mc4(g), gaze_vector=g, identity=identity, expression=expression,
                points3d=pts, model=model)


# --------------------------------------------------------------------------
# drawing helpers (continuous coordinates -> OpenCV's pixel-centre convention)


def _fx(pts, offset):
    return geometry.cv_fixed(np.asarray(pts, np.float64) - offset, SHIFT)


def fill(img, pts, color, offset=(0, 0)):
    cv2.fillPoly(img, [_fx(pts, offset)], _col(color), lineType=cv2.LINE_AA, shift=SHIFT)


def polyline(img, pts, color, thickness, closed=False, off=(0, 0)):
    cv2.polylines(img, [_fx(pts, off)], closed, _col(color), max(1, int(round(thickness))),
                  lineType=cv2.LINE_AA, shift=SHIFT)


def ellipse(img, centre, axes, angle, color, offset=(0, 0)):
    c = tuple(int(v) for v in _fx(centre, offset))
    ax = tuple(int(round(max(a, 0.5) * SCALE)) for a in axes)
    cv2.ellipse(img, c, ax, float(angle), 0, 360, _col(color), -1, cv2.LINE_AA, SHIFT)


def _col(c):
    c = np.clip(np.asarray(c, np.float64), 0, 255)
    return tuple(float(v) for v in c) if c.size == 3 else float(c)


def inside_polygon(poly, pts):
    """Boolean (N,) for points strictly inside a polygon (continuous coordinates)."""
    poly = np.asarray(poly, np.float32).reshape(-1, 1, 2)
    return np.array([cv2.pointPolygonTest(poly, (float(x), float(y)), False) > 0 for x, y in np.asarray(pts)],
                    bool).reshape(-1)


# --------------------------------------------------------------------------
# one face


def _skull_samples(R, t):
    """Points on the skull ellipsoid (camera frame) for its silhouette polygon."""
    u, v = np.meshgrid(np.linspace(0, 2 * np.pi, 48, endpoint=False), np.linspace(0.05, np.pi - 0.05, 24))
    s = np.stack([np.sin(v) * np.cos(u), np.cos(v), np.sin(v) * np.sin(u)], -1).reshape(-1, 3)
    return (s * face3d.HEAD_RADII + face3d.HEAD_CENTRE) @ R.T + t


def silhouette(face, K):
    """Outline polygon (photo px) of the head: skull, jaw and chin."""
    pts = np.vstack([geometry.project(_skull_samples(face.R, face.t), K), geometry.project(face.points3d[:33], K)])
    return cv2.convexHull(pts.astype(np.float32)).reshape(-1, 2).astype(np.float64)


def _visible_facing(face):
    n = face3d.point_normals(face.model) @ face.R.T
    facing = np.sum(n * face.points3d, axis=1) < 0
    g = face.gaze_vector
    for _, side, idx in EYE_PARTS:
        facing[idx] = np.dot(g, face.points3d[idx]) < 0
    return facing


def _part_drawn(face, part):
    idx = [i for i in PARTS[part] if i < 96]
    n = face3d.point_normals(face.model)[idx].mean(0) @ face.R.T
    return float(np.dot(n, face.points3d[idx].mean(0))) < 0


def draw_face(img, face, K, light, rng, makeup=False):
    """Draw ``face`` into ``img`` (BGR uint8, photo) and fill in its 2D labels.

    Returns the drawn head silhouette (for occlusion between faces).
    """
    H, W = img.shape[:2]
    face.points = geometry.project(face.points3d, K)
    sil = silhouette(face, K)
    x1, y1 = np.floor(sil.min(0)).astype(int) - 4
    x2, y2 = np.ceil(sil.max(0)).astype(int) + 4
    # the neck reaches below the silhouette
    neck = np.array([[-42, 80, 25], [42, 80, 25], [46, 240, 35], [-46, 240, 35]], float) @ face.R.T + face.t
    neck2d = geometry.project(neck, K)
    y2 = max(y2, int(np.ceil(neck2d[:, 1].max())) + 2)
    x1, y1 = max(x1, 0), max(y1, 0)
    x2, y2 = min(x2, W), min(y2, H)
    app = face.appearance
    skin = app["skin"]
    facing = _visible_facing(face)
    drawn = {p: _part_drawn(face, p) for p in PARTS}
    face.parts_drawn = drawn
    if x2 <= x1 or y2 <= y1:
        face.visible = np.zeros(98, bool)
        return sil
    view = img[y1:y2, x1:x2]
    off = np.array([x1, y1], float)
    fill(view, neck2d, skin * 0.7 * _lambert(face.R @ [0.0, 0.0, -1.0], light), off)
    # the jaw reaches below the skull ellipsoid: its outline goes first, the skull over it
    sx1, sy1 = np.maximum(np.floor(sil.min(0) - off).astype(int) - 2, 0)
    sx2, sy2 = np.ceil(sil.max(0) - off).astype(int) + 2
    sub = view[sy1:sy2, sx1:sx2]
    head_mask = np.zeros(sub.shape[:2], np.uint8)
    fill(head_mask, sil, 255, off + [sx1, sy1])
    _shade_head(sub, face, K, light, off + [sx1, sy1], skin, app["hair"], head_mask)

    order = sorted(PARTS, key=lambda p: -face.points3d[[i for i in PARTS[p] if i < 96]][:, 2].mean())
    for part in order:
        if not drawn[part]:
            continue
        if part.startswith("brow"):
            idx = PARTS[part]
            fill(view, face.points[idx], app["hair"] * 0.8 * _lambert(face.R @ [0, -0.3, -1], light), off)
        elif part.startswith("eye"):
            _draw_eye(view, face, part, off, light, app, makeup)
        elif part == "nose":
            _draw_nose(view, face, off, light, skin)
        elif part == "mouth":
            _draw_mouth(view, face, off, light, app, makeup)

    vis = facing.copy()
    for part, ok in drawn.items():
        if not ok:
            vis[PARTS[part]] = False
    for _, side, idx in EYE_PARTS:  # the pupil is seen only through the eyelid opening
        lids = face.points[list(range(60, 68)) if side == 0 else list(range(68, 76))]
        vis[idx] &= bool(inside_polygon(lids, face.points[idx:idx + 1])[0])
    if drawn["nose"]:
        nose_poly = cv2.convexHull(face.points[51:60].astype(np.float32)).reshape(-1, 2)
        nose_depth = face.points3d[51:60, 2].max()
        behind = inside_polygon(nose_poly, face.points) & (face.points3d[:, 2] > nose_depth)
        behind[51:60] = False
        vis &= ~behind
    face.visible = vis
    face.self_visible = vis.copy()  # before other faces and occluders hide anything: what the head itself shows
    face.outline = sil
    return sil


def hidden_to_outline(points, hidden, outline, facing_x):
    """Points hidden by the head, moved as the course's annotators place them: along their image row to where
    the head's outline is, on the side the face turns to (``facing_x``: the sign of the face's forward
    direction in x).  A hidden point already outside the outline stays.  Returns a new (K, 2) array."""
    out = np.array(points, dtype=np.float64)
    poly = np.asarray(outline, np.float64)
    edges = list(zip(poly, np.roll(poly, -1, axis=0)))
    for k in np.flatnonzero(hidden):
        x, y = out[k]
        if not inside_polygon(poly, out[k:k + 1])[0]:
            continue
        crossings = [a[0] + (y - a[1]) * (b[0] - a[0]) / (b[1] - a[1]) for a, b in edges
                     if (a[1] - y) * (b[1] - y) < 0]
        ahead = [c for c in crossings if (c - x) * facing_x > 0]
        if ahead:
            out[k, 0] = min(ahead, key=lambda c: abs(c - x))
    return out


def _lambert(normal, light):
    n = np.asarray(normal, float)
    n = n / np.linalg.norm(n)
    return light["ambient"] + light["diffuse"] * max(0.0, float(-np.dot(n, light["dir"])))


SHADE_GRID = 128  # the skull is shaded on at most this many samples a side, then upsampled (shading is smooth)


def _shade_head(view, face, K, light, off, skin, hair, head_mask):
    """Shade the head inside ``head_mask`` (uint8, anti-aliased silhouette) of ``view``.

    Normals, and the hairline, come from the exact ray intersection with the
    skull ellipsoid; pixels below the ellipsoid (the chin) take a
    forward-down normal.  Colour is computed on a grid of at most
    ``SHADE_GRID`` samples a side and upsampled.
    """
    h, w = view.shape[:2]
    if h == 0 or w == 0:
        return
    step = max(1.0, max(h, w) / SHADE_GRID)
    gw, gh = max(2, int(np.ceil(w / step))), max(2, int(np.ceil(h / step)))
    xs = (np.arange(gw, dtype=np.float32) + 0.5) * (w / gw) + off[0]
    ys = (np.arange(gh, dtype=np.float32) + 0.5) * (h / gh) + off[1]
    u, v = np.meshgrid(xs, ys)
    rays = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)], -1)
    radii = np.array(face3d.HEAD_RADII, np.float32)
    centre = face.R @ np.array(face3d.HEAD_CENTRE) + face.t
    o = ((face.R.T @ (-centre)) / radii).astype(np.float32)  # camera origin in the unit-sphere frame
    d = (rays @ face.R.astype(np.float32)) / radii
    a = np.sum(d * d, -1)
    b = 2 * (d @ o)
    c = float(o @ o) - 1
    disc = b * b - 4 * a * c
    hit = disc > 0
    s = (-b - np.sqrt(np.where(hit, disc, 0))) / (2 * a)
    p_unit = o + s[..., None] * d
    p_head = p_unit * radii + np.array(face3d.HEAD_CENTRE, np.float32)
    is_hair = hit & ((p_head[..., 1] < face3d.HAIRLINE_Y + 6 * np.sin(p_head[..., 0] / 18.0)) | (p_head[..., 2] > 25))
    n = (p_unit / radii) @ face.R.T.astype(np.float32)
    n = np.where(hit[..., None], n, face.R @ np.array([0.0, 0.5, -1.0]))
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    shade = light["ambient"] + light["diffuse"] * np.clip(-(n @ light["dir"].astype(np.float32)), 0, None)
    rim = np.clip(-(n * rays / np.linalg.norm(rays, axis=-1, keepdims=True)).sum(-1), 0, 1) ** 0.3
    colour = np.where(is_hair[..., None], np.asarray(hair, np.float32), np.asarray(skin, np.float32))
    out = np.clip(colour * (shade * (0.55 + 0.45 * rim))[..., None], 0, 255).astype(np.float32)
    if (gw, gh) != (w, h):
        out = cv2.resize(out, (w, h), interpolation=cv2.INTER_LINEAR)
    alpha = (head_mask.astype(np.float32) / 255.0)[..., None]
    view[:] = (view * (1 - alpha) + out * alpha).astype(np.uint8)


def _draw_eye(view, face, part, off, light, app, makeup):
    side = 0 if part == "eye_l" else 1
    lid_idx = list(range(60, 68)) if side == 0 else list(range(68, 76))
    lids = face.points[lid_idx]
    pupil_idx = 96 + side
    if makeup:
        brow = face.points[list(range(33, 42)) if side == 0 else list(range(42, 51))]
        shadow = np.vstack([lids[:5], brow[::-1][:5]]) if side == 0 else np.vstack([lids[:5], brow[4::-1]])
        fill(view, cv2.convexHull(shadow.astype(np.float32)).reshape(-1, 2), app["skin"] * [0.9, 0.55, 0.7], off)
    x1, y1 = np.floor(lids.min(0) - off).astype(int) - 2
    x2, y2 = np.ceil(lids.max(0) - off).astype(int) + 3
    x1, y1 = max(x1, 0), max(y1, 0)
    x2, y2 = min(x2, view.shape[1]), min(y2, view.shape[0])
    if x2 > x1 and y2 > y1:
        patch = view[y1:y2, x1:x2]
        poff = off + [x1, y1]
        mask = np.zeros(patch.shape[:2], np.uint8)
        fill(mask, lids, 255, poff)
        layer = patch.copy()
        fill(layer, lids, np.array([225, 230, 235]) * _lambert(face.R @ [0, 0, -1.0], light), poff)
        # iris and pupil: circles on the eyeball sphere around the gaze direction
        g = face.gaze_vector
        centre = face.points3d[pupil_idx] - face3d.EYE_RADIUS * g
        K = app["K"]
        for radius, colour in ((face3d.IRIS_RADIUS, app["iris"]), (face3d.PUPIL_RADIUS, (15, 15, 15))):
            ring = _sphere_circle(centre, g, face3d.EYE_RADIUS, radius)
            fill(layer, geometry.project(ring, K), np.asarray(colour) * (0.5 + 0.5 * light["ambient"]), poff)
        # the corneal glint sits on the iris, off the pupil
        iris_px = np.ptp(lids[:, 0]) * face3d.IRIS_RADIUS / 30.0
        glint = face.points[pupil_idx] + np.array([-0.55, -0.55]) * iris_px
        cv2.circle(layer, tuple(int(v) for v in _fx(glint, poff)), max(SCALE // 2, int(0.18 * iris_px * SCALE)),
                   (245, 245, 245), -1, cv2.LINE_AA, SHIFT)
        a = (mask.astype(np.float32) / 255.0)[..., None]
        patch[:] = (layer * a + patch * (1 - a)).astype(np.uint8)
    width = np.linalg.norm(lids[0] - lids[4])
    polyline(view, lids[:5], (25, 25, 30), max(1, width * 0.07), off=off)
    polyline(view, np.vstack([lids[4:], lids[:1]]), app["skin"] * 0.55, max(1, width * 0.03), off=off)


def _sphere_circle(centre, axis, sphere_r, circle_r, n=20):
    """Points of the circle of radius ``circle_r`` on a sphere around direction ``axis``."""
    axis = axis / np.linalg.norm(axis)
    a = np.cross(axis, [0.0, 1.0, 0.0])
    if np.linalg.norm(a) < 1e-6:
        a = np.cross(axis, [1.0, 0.0, 0.0])
    a /= np.linalg.norm(a)
    b = np.cross(axis, a)
    alpha = np.arcsin(circle_r / sphere_r)
    ang = np.linspace(0, 2 * np.pi, n, endpoint=False)
    dirs = np.cos(alpha) * axis + np.sin(alpha) * (np.cos(ang)[:, None] * a + np.sin(ang)[:, None] * b)
    return centre + sphere_r * dirs


def _draw_nose(view, face, off, light, skin):
    p = face.points
    span = np.linalg.norm(p[55] - p[59])
    side_right = light["dir"][0] < 0  # the shadowed flank is away from the light
    flank = [51, 52, 53, 54, 59] if side_right else [51, 52, 53, 54, 55]
    polyline(view, p[flank], skin * 0.7, max(1, span * 0.06), off=off)
    fill(view, np.vstack([p[55:60], p[54:55]]), skin * 0.92 * _lambert(face.R @ [0, 0.3, -1.0], light), off)
    polyline(view, p[55:60], skin * 0.45, max(1, span * 0.05), off=off)
    for a, b in ((55, 57), (59, 57)):
        c = 0.55 * p[a] + 0.45 * p[b] - (p[57] - p[54]) * 0.15
        ellipse(view, c, (span * 0.12, span * 0.06), np.degrees(np.arctan2(*(p[59] - p[55])[::-1])), (30, 30, 45),
                off)
    cv2.circle(view, tuple(int(v) for v in _fx(p[54] + (p[53] - p[54]) * 0.25, off)),
               max(SCALE, int(span * 0.08 * SCALE)), _col(np.minimum(skin * 1.15, 255)), -1, cv2.LINE_AA, SHIFT)


def _draw_mouth(view, face, off, light, app, makeup):
    p = face.points
    lips = app["lips"] * ([0.8, 0.6, 1.25] if makeup else 1.0)
    fill(view, p[76:88], lips * _lambert(face.R @ [0, 0.1, -1.0], light), off)
    inner = p[88:96]
    gap = np.linalg.norm(p[90] - p[94])
    width = np.linalg.norm(p[76] - p[82])
    if gap > 0.04 * width:
        fill(view, inner, (30, 25, 60), off)
        teeth = np.vstack([p[88:93], (p[92] + p[91]) / 2 + (p[94] - p[90]) * 0.25,
                           (p[88] + p[89]) / 2 + (p[94] - p[90]) * 0.25])
        fill(view, teeth, (200, 210, 215), off)
    polyline(view, np.vstack([p[88:93], p[[93, 94, 95, 88]]]), lips * 0.45, max(1, width * 0.025), off=off)


# --------------------------------------------------------------------------
# photos


def _background(rng, w, h):
    small = rng.uniform(30, 230, (rng.integers(2, 6), rng.integers(2, 6), 3)).astype(np.float32)
    img = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    img = np.clip(img, 0, 255).astype(np.uint8)
    for _ in range(rng.integers(3, 12)):
        colour = tuple(float(c) for c in rng.uniform(0, 255, 3))
        kind = rng.integers(3)
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        s = rng.uniform(0.03, 0.3) * w
        if kind == 0:
            cv2.rectangle(img, (int(x), int(y)), (int(x + s), int(y + s * rng.uniform(0.3, 2))), colour, -1)
        elif kind == 1:
            cv2.ellipse(img, (int(x), int(y)), (int(s), int(s * rng.uniform(0.3, 1))), rng.uniform(0, 180), 0, 360,
                        colour, -1, cv2.LINE_AA)
        else:
            cv2.line(img, (int(x), int(y)), (int(rng.uniform(0, w)), int(rng.uniform(0, h))), colour,
                     int(rng.integers(1, 8)), cv2.LINE_AA)
    return img


_NOISE_BANK = {}
NOISE_BANK_SIDE = 1536  # a per-process bank of unit Gaussian noise, sliced at random offsets


def _add_noise(img, sigma, rng):
    """Add Gaussian pixel noise of std ``sigma`` (a slice of a per-process bank, tiled past its size)."""
    bank = _NOISE_BANK.get("bank")
    if bank is None:
        bank = np.random.default_rng(12345).normal(0, 1, (NOISE_BANK_SIDE, NOISE_BANK_SIDE, 3)).astype(np.float32)
        _NOISE_BANK["bank"] = bank
    h, w = img.shape[:2]
    reps = (int(np.ceil(h / NOISE_BANK_SIDE)) + 1, int(np.ceil(w / NOISE_BANK_SIDE)) + 1, 1)
    big = bank if reps[:2] == (2, 2) and h < NOISE_BANK_SIDE and w < NOISE_BANK_SIDE else np.tile(bank, reps)
    y0 = int(rng.integers(0, big.shape[0] - h + 1))
    x0 = int(rng.integers(0, big.shape[1] - w + 1))
    return cv2.scaleAdd(big[y0:y0 + h, x0:x0 + w], float(sigma), img.astype(np.float32)).clip(0, 255).astype(np.uint8)


def _light(rng):
    d = rng.normal(0, 1, 3)
    d[2] = abs(d[2]) + 0.8  # mostly from the camera side: light travels along +z
    d /= np.linalg.norm(d)
    ambient = rng.uniform(0.3, 0.65)
    return {"dir": d, "ambient": ambient, "diffuse": rng.uniform(0.45, 0.9) * (1.25 - ambient)}


def _occluder(img, face, rng):
    """A hand-like or object blob over part of the face; returns its polygon."""
    p = face.points
    centre = p[rng.choice([54, 96, 97, 79, 16, 8, 24])] + rng.normal(0, 1, 2) * np.ptp(p[:, 0]) * 0.1
    r = np.ptp(p[:, 0]) * rng.uniform(0.12, 0.3)
    ang = np.linspace(0, 2 * np.pi, 14, endpoint=False)
    rad = r * rng.uniform(0.7, 1.3, ang.size)
    poly = centre + np.stack([np.cos(ang) * rad, np.sin(ang) * rad * rng.uniform(0.6, 1.4)], -1)
    colour = face.appearance["skin"] * 0.9 if rng.uniform() < 0.5 else rng.uniform(20, 235, 3)
    fill(img, poly, colour)
    return poly


def attributes_of(face, blur_sigma, light):
    """The six WFLW flags from the sampled parameters."""
    pitch, yaw, roll = face.euler
    e = face.expression
    head_px = np.ptp(face.points[:, 1])
    return np.array([
        abs(yaw) > 40 or abs(pitch) > 22 or abs(roll) > 25,
        e.get("mouth_open", 0) > 8 or e.get("smile", 0) > 4 or e.get("brow_raise", 0) > 5 or e.get("eye_narrow", 0) > 0.3,
        light["ambient"] < 0.38 or abs(light["dir"][0]) > 0.75,
        bool(face.appearance.get("makeup")),
        bool((face.visible_before_occluder & ~face.visible).any()),
        blur_sigma > 0.012 * head_px + 0.8,
    ], dtype=np.int32)


PLACEMENT_TRIES = 10
MIN_IN_FRAME = 0.3  # a face keeps at least this share of its landmark box inside the photo
MAX_FACE_IOU = 0.05  # faces in one photo barely overlap (a crowd, not a stack)


def _overlap(box, W, H):
    x1, y1, x2, y2 = box
    inter = max(0.0, min(x2, W) - max(x1, 0)) * max(0.0, min(y2, H) - max(y1, 0))
    return inter / max((x2 - x1) * (y2 - y1), 1e-9)


def render_photo(rng, cfg=None, size=None, faces=None, centred=False):
    """Render one photo.

    Parameters
    ----------
    rng : numpy Generator
    cfg : SynthConfig
    size : (W, H) or None to sample
    faces : number of faces or None to sample
    centred : one face in the middle, fully inside (MC4 and crops)

    Returns
    -------
    image (H, W, 3) BGR uint8, list of Face (in drawing order), dict of photo settings
    """
    cfg = cfg or SynthConfig()
    if size is None:
        w = int(rng.integers(cfg.photo_width[0], cfg.photo_width[1] + 1))
        size = (w, int(w * rng.uniform(*cfg.photo_aspect)))
    W, H = size
    K = geometry.camera_matrix(W, H)
    img = _background(rng, W, H)
    n = faces if faces is not None else int(rng.integers(cfg.faces_per_photo[0], cfg.faces_per_photo[1] + 1))
    placed = []
    for _ in range(n):
        head_px = H * rng.uniform(*cfg.head_frac) / (1.0 if n == 1 or centred else np.sqrt(n))
        if centred:
            centre = (W / 2 + rng.normal(0, 0.02) * W, H / 2 - 0.1 * head_px)
        elif rng.uniform() < cfg.outside_prob:
            centre = (rng.choice([-0.05, 1.05]) * W + rng.normal(0, 0.05) * W, rng.uniform(0.2, 0.8) * H)
        else:
            centre = (rng.uniform(0.25, 0.75) * head_px + rng.uniform(0, max(W - 0.5 * head_px, 1)),
                      rng.uniform(0.5, 0.6) * head_px + rng.uniform(0, max(H - 1.0 * head_px, 1)))
        for _ in range(PLACEMENT_TRIES):  # keep faces that overlap the frame
            f = sample_face(rng, cfg, K, centre, head_px)
            box = geometry.points_box(geometry.project(f.points3d, K))
            inter = geometry.box_iou(box, [0, 0, W, H])[0, 0]
            others = [geometry.points_box(geometry.project(g.points3d, K)) for g in placed]
            apart = not others or geometry.box_iou(box, others).max() < MAX_FACE_IOU
            if inter > 0 and _overlap(box, W, H) >= MIN_IN_FRAME and apart:
                break
            centre = (rng.uniform(0.1, 0.9) * W, rng.uniform(0.1, 0.9) * H)
        f.appearance = _palette(rng)
        f.appearance["K"] = K
        f.appearance["makeup"] = rng.uniform() < cfg.makeup_prob
        placed.append(f)
    placed.sort(key=lambda f: -f.t[2])  # far faces first
    light = _light(rng)
    silhouettes = []
    for f in placed:
        sil = draw_face(img, f, K, light, rng, makeup=f.appearance["makeup"])
        silhouettes.append(sil)
    # nearer faces hide farther ones
    for i, f in enumerate(placed):
        for sil in silhouettes[i + 1:]:
            f.visible &= ~inside_polygon(sil, f.points)
    for f in placed:
        f.occluder = None
        f.visible_before_occluder = f.visible.copy()
        if rng.uniform() < cfg.occluder_prob:
            f.occluder = _occluder(img, f, rng)
            f.visible &= ~inside_polygon(f.occluder, f.points)
            for g in placed:  # an occluder can cover a neighbour too
                if g is not f:
                    g.visible &= ~inside_polygon(f.occluder, g.points)
    blur = 0.0
    if rng.uniform() < cfg.blur_prob:
        blur = float(rng.uniform(0.8, 3.5))
        img = cv2.GaussianBlur(img, (0, 0), blur)
    sigma = rng.uniform(*cfg.noise_sigma)
    if sigma > 0.5:
        img = _add_noise(img, sigma, rng)
    for f in placed:
        f.attributes = attributes_of(f, blur, light)
    settings = {"size": [W, H], "blur_sigma": blur, "noise_sigma": float(sigma),
                "jpeg_quality": int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1)),
                "light_dir": light["dir"].tolist(), "ambient": float(light["ambient"])}
    return img, placed, settings


def sample_person(rng, cfg):
    """Identity, expression and appearance kept by one person across images or frames."""
    idn = sample_identity(rng)
    app = _palette(rng)
    app["makeup"] = rng.uniform() < cfg.makeup_prob
    return {"identity": idn, "appearance": app, "light": _light(rng)}


def render_centred(rng, person, euler, eye, size, face_px=None, expression=None, background=None, noise=0.0,
                   focal=None, distance=None):
    """One face whose centre (``geometry.face_centre`` of its eye and mouth corners) lies on the optical axis.

    The camera looks straight at the face, as the views of ``recordio.gazeviews`` do, so the camera-frame
    gaze is the label.  Either ``face_px``, the distance between the outer eye corners' midpoint and the
    mouth corners' midpoint in pixels at zero pose (sets the distance, focal = ``size``), or ``focal`` px and
    ``distance`` mm (MPIIFaceGaze's normalised camera).
    """
    W = H = int(size)
    K = geometry.camera_matrix(W, H, focal)
    model = face3d.face_points_3d(person["identity"], expression)
    centre = geometry.face_centre(model[list(GAZE_POINTS)])
    R = geometry.euler_to_matrix(*euler)
    if distance is None:
        distance = K[0, 0] * np.linalg.norm(model[[76, 82]].mean(0) - model[[60, 72]].mean(0)) / face_px
    t = np.array([0.0, 0.0, distance]) - R @ centre
    f = pose_face(np.asarray(euler, float), t, np.asarray(eye, float), person["identity"], expression)
    f.appearance = dict(person["appearance"])
    f.appearance["K"] = K
    img = _background(rng, W, H) if background is None else background.copy()
    draw_face(img, f, K, person["light"], rng, makeup=f.appearance["makeup"])
    if noise > 0.5:
        img = _add_noise(img, noise, rng)
    return img, f
