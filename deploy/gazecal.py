"""Per-person gaze calibration, and the point a gaze meets on a screen.

Calibration.  A gaze model is trained on many people; for one person its answers are off by a few degrees
in a way that stays put (the angle between the eye's optical and visual axes, a few degrees per person, is
the best known part).  A few frames where the person looks at known targets fit a correction of the
model's (pitch, yaw), in degrees (the convention of results.jsonl: pitch > 0 up, yaw > 0 towards the
image's left):

    [pitch', yaw'] = M @ [pitch, yaw, 1]

an offset alone (M = [I | b]) from fewer than ``AFFINE_MIN`` targets, else a full 2 x 3 affine map (scale
and shear of the angles too).  ``deploy/calibrate_gaze.py`` fits it from analyze.py's results and a file of
targets; ``analyze.py --calibration FILE`` applies it to every answer (before video smoothing).

Screen.  With the screen's place in the camera's frame, a gaze ray (from the face centre, which the head
pose puts in millimetres in the camera's frame) meets the screen plane at a point, reported in mm and
pixels.  Screen coordinates are as the person sees the screen: x to the right, y down, origin at its
top-left corner.  A screen file is JSON: ``width_mm``, ``height_mm``, ``width_px``, ``height_px`` and
either ``camera_above_mm`` (the usual webcam on top: the camera centred over the screen, its lens this far
above the top edge, screen and lens in one plane facing the person; default 10) or ``R`` and ``t``, the
screen's pose: a point (x, y, 0) mm on the screen is at ``R @ (x, y, 0) + t`` in the camera's frame.
"""
import json

import numpy as np

from recordio import geometry

AFFINE_MIN = 6  # targets needed for the full affine correction; fewer fit an offset
AFFINE_FIT_MIN = 3  # pairs that determine an affine map of the two angles (3 unknowns per angle)


def angles_of(vectors):
    """(pitch, yaw) in degrees (..., 2) of camera-frame unit vectors."""
    return np.degrees(geometry.vector_to_pitchyaw(np.asarray(vectors, np.float64)))


def vector_of(angles):
    """Camera-frame unit vectors (..., 3) of (pitch, yaw) in degrees (..., 2)."""
    a = np.radians(np.asarray(angles, np.float64))
    return geometry.pitchyaw_to_vector(a[..., 0], a[..., 1])


def angular_error(a, b):
    """Degrees between gaze directions given as (pitch, yaw) in degrees (..., 2)."""
    return geometry.angular_error_deg(vector_of(a), vector_of(b))


def direction(g):
    """The answer fields of a camera-frame gaze direction ``g`` (3,): ``vector`` (unit, 5 decimals),
    ``pitch`` and ``yaw`` in degrees (2 decimals)."""
    g = geometry.unit(g)
    pitch, yaw = angles_of(g)
    return {"vector": np.round(g, 5).tolist(), "pitch": round(float(pitch), 2), "yaw": round(float(yaw), 2)}


class Calibration:
    """A fitted correction of (pitch, yaw) in degrees: ``matrix`` (2, 3)."""

    def __init__(self, matrix, samples=0, error_before=None, error_after=None, kind=None):
        self.matrix = np.asarray(matrix, np.float64).reshape(2, 3)
        self._kind = kind
        self.samples, self.error_before, self.error_after = samples, error_before, error_after

    @classmethod
    def fit(cls, predicted, target, kind=None):
        """The correction taking ``predicted`` (N, 2) to ``target`` (N, 2), degrees: ``kind`` "offset" or
        "affine" (least squares, from 3 pairs up); None: an offset from fewer than AFFINE_MIN pairs, an affine
        map from more."""
        p, t = np.asarray(predicted, np.float64).reshape(-1, 2), np.asarray(target, np.float64).reshape(-1, 2)
        if len(p) == 0 or len(p) != len(t):
            raise ValueError("calibration needs pairs of predicted and target angles, got %d and %d"
                             % (len(p), len(t)))
        kind = kind or ("offset" if len(p) < AFFINE_MIN else "affine")
        if kind not in ("offset", "affine"):
            raise ValueError("calibration kind %r: offset or affine" % kind)
        if kind == "affine" and len(p) < AFFINE_FIT_MIN:
            raise ValueError("an affine calibration needs %d pairs, got %d" % (AFFINE_FIT_MIN, len(p)))
        if kind == "offset":
            matrix = np.hstack([np.eye(2), (t - p).mean(0)[:, None]])
        else:
            X = np.hstack([p, np.ones((len(p), 1))])
            matrix = np.linalg.lstsq(X, t, rcond=None)[0].T
        cal = cls(matrix, len(p), kind=kind)
        cal.error_before = float(np.mean(angular_error(p, t)))
        cal.error_after = float(np.mean(angular_error(cal(p), t)))
        return cal

    def __call__(self, angles):
        """Corrected (pitch, yaw) degrees (..., 2)."""
        a = np.asarray(angles, np.float64)
        return a @ self.matrix[:, :2].T + self.matrix[:, 2]

    @property
    def kind(self):
        if self._kind:
            return self._kind
        return "offset" if np.allclose(self.matrix[:, :2], np.eye(2)) else "affine"

    def apply(self, answer):
        """Correct an answer of GazeModel.answers in place: ``vector``, ``pitch``, ``yaw``; the model's own
        direction stays as ``uncalibrated``."""
        raw = np.asarray(answer["vector"], np.float64)
        answer.update(direction(vector_of(self(angles_of(raw)))), uncalibrated=np.round(raw, 5).tolist())
        return answer

    def save(self, path):
        with open(path, "w") as f:
            json.dump({"kind": self.kind, "matrix": np.round(self.matrix, 6).tolist(), "samples": self.samples,
                       "mean_error_before_deg": self.error_before, "mean_error_after_deg": self.error_after,
                       "angles": "pitch, yaw in degrees: [pitch', yaw'] = matrix @ [pitch, yaw, 1]"}, f, indent=1)

    @classmethod
    def load(cls, path):
        try:
            with open(path) as f:
                d = json.load(f)
            matrix = np.asarray(d["matrix"], np.float64)
            if matrix.shape != (2, 3) or not np.all(np.isfinite(matrix)):
                raise ValueError("matrix must be 2 x 3 finite numbers")
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise SystemExit("error: %s is not a gaze calibration (deploy/calibrate_gaze.py writes one): %s"
                             % (path, e))
        return cls(matrix, d.get("samples", 0), d.get("mean_error_before_deg"), d.get("mean_error_after_deg"),
                   d.get("kind") if d.get("kind") in ("offset", "affine") else None)


class Screen:
    """A flat screen in the camera's frame (see the module's notes for the file and the coordinates)."""

    KEYS = ("width_mm", "height_mm", "width_px", "height_px")

    def __init__(self, width_mm, height_mm, width_px, height_px, R=None, t=None, camera_above_mm=10.0):
        self.size_mm = np.array([width_mm, height_mm], np.float64)
        self.size_px = np.array([width_px, height_px], np.float64)
        if R is None:  # facing the person, so the person's right is the camera's -x; y down in both
            R = np.diag([-1.0, 1.0, -1.0])
            t = np.array([width_mm / 2.0, camera_above_mm, 0.0])
        self.R, self.t = np.asarray(R, np.float64).reshape(3, 3), np.asarray(t, np.float64).reshape(3)

    @classmethod
    def load(cls, path):
        try:
            with open(path) as f:
                d = json.load(f)
            missing = [k for k in cls.KEYS if k not in d]
            if missing:
                raise ValueError("missing %s" % ", ".join(missing))
            if ("R" in d) != ("t" in d):
                raise ValueError("give both R and t, or neither")
            return cls(*(float(d[k]) for k in cls.KEYS), R=d.get("R"), t=d.get("t"),
                       camera_above_mm=float(d.get("camera_above_mm", 10.0)))
        except (OSError, ValueError, TypeError) as e:
            raise SystemExit("error: %s is not a screen file (JSON with %s, and camera_above_mm or R and t): %s"
                             % (path, ", ".join(cls.KEYS), e))

    def to_camera(self, px):
        """Camera-frame points (mm) of screen pixels (..., 2)."""
        mm = np.asarray(px, np.float64) * self.size_mm / self.size_px
        return mm[..., :1] * self.R[:, 0] + mm[..., 1:2] * self.R[:, 1] + self.t

    def look(self, origin, vector):
        """Where the ray from ``origin`` (mm, camera frame) along ``vector`` meets the screen plane:
        {"mm": [x, y], "px": [x, y], "on_screen": bool}, or None when it runs parallel or away."""
        o, g = np.asarray(origin, np.float64), geometry.unit(vector)
        normal = self.R[:, 2]
        along = float(normal @ g)
        if abs(along) < 1e-9:
            return None
        s = float(normal @ (self.t - o)) / along
        if s <= 0:
            return None
        local = self.R.T @ (o + s * g - self.t)
        px = local[:2] * self.size_px / self.size_mm
        inside = bool(np.all(local[:2] >= 0) and np.all(local[:2] <= self.size_mm))
        return {"mm": np.round(local[:2], 1).tolist(), "px": np.round(px, 1).tolist(), "on_screen": inside}

    def target_angles(self, origin, px):
        """(pitch, yaw) degrees of the direction from ``origin`` (mm) to screen pixel ``px``."""
        return angles_of(geometry.unit(self.to_camera(px) - np.asarray(origin, np.float64)))
