"""What each gaze network sees, cut from a camera image: the one place the renderer, the packers and
``deploy/analyze.py`` take their gaze inputs from (constants: ``schema.GazeDataset.view``).

Every view is a virtual camera at the real camera's centre turned to look at the face (``geometry``'s
virtual cameras), so a network's answer, a direction in the view's frame, goes back into the real camera's
frame by ``R_view^T``:

- ``normalised_face`` (MPIIFaceGaze): the data normalisation of Zhang, Sugano and Bulling (ETRA 2018). The
  view looks at the face centre (``geometry.face_centre`` of the head's eye and mouth corners), its x axis in
  the plane of the head's x axis, at the dataset's pixels per mm (``focal / distance``): only the image is
  scaled, never the gaze (their modified normalisation).
- ``head_frames`` (Gaze360): the view looks at the face centre, upright in the camera, the eye-to-mouth
  distance a fixed share of the side.
- ``mc4_views`` (MC4): the view looks at the face centre at the real focal length; the head photo is the
  square around the head's landmark box grown by ``head_box_scale``, sized so the baseline's centre crop
  holds it; each eye patch is centred on its two corners and ``eye_width`` times as wide as they are apart.

A face is given as its head pose ``(R, t)`` (``headpose.head_pose_from_landmarks`` or the renderer's truth)
and, for MC4, its eye corners in the image.
"""
import numpy as np

from . import face3d, geometry
from .schema import GAZE_POINTS, gaze_point_indices, tiles_size

VIEW_KINDS = ("normalised_face", "head_frames", "mc4_views")
HEAD_FRAME_SIDE = 224  # Gaze360's frames are cut at this side before shrinking to the network's tiles


def _interp():
    import cv2
    return cv2.INTER_AREA


def model_points(R, t, points3d=None):
    """The head's 98 WFLW points (or ``points3d``, head frame, mm) in the camera frame."""
    p = face3d.MEAN_FACE_98 if points3d is None else np.asarray(points3d, dtype=np.float64)
    return p @ np.asarray(R, dtype=np.float64).T + np.asarray(t, dtype=np.float64)


def centre_of(R, t, points3d=None):
    """The face centre (camera frame, mm) of the head at ``(R, t)``."""
    return geometry.face_centre(model_points(R, t, points3d)[list(GAZE_POINTS)])


EYE_MOUTH_MM = float(np.linalg.norm(face3d.MEAN_FACE_98[[76, 82]].mean(0) - face3d.MEAN_FACE_98[[60, 72]].mean(0)))
"""The mean face's distance from the outer eye corners' midpoint to the mouth corners' midpoint, mm."""


class View:
    """A virtual camera's image of a face.

    Attributes
    ----------
    image : HxWx3 (or HxW) uint8, the view.
    R_view : (3, 3) rotation from the real camera's frame to the view's.
    H : (3, 3) homography from real-camera pixels to view pixels.
    """

    def __init__(self, image, R_view, H):
        self.image, self.R_view, self.H = image, R_view, H

    def to_camera(self, vectors):
        """Directions (..., 3) in the view's frame -> the real camera's."""
        return np.asarray(vectors, dtype=np.float64) @ self.R_view


def normalised_face(image, K, R, t, view, side=None, points3d=None):
    """MPIIFaceGaze's normalised face of the head at ``(R, t)`` seen by the camera ``K``, ``side`` px
    (default the dataset's ``view['side']``; the focal length scales with it)."""
    side = int(side or view["side"])
    centre = centre_of(R, t, points3d)
    R_view = geometry.look_at_rotation(centre, np.asarray(R)[:, 0] if view["roll"] == "head" else (1.0, 0, 0))
    focal = view["focal"] * side / view["side"] * np.linalg.norm(centre) / view["distance"]
    H = geometry.view_homography(K, R_view, focal, side, side)
    return View(geometry.warp_homography(image, H, side, side), R_view, H)


def head_frame(image, K, R, t, view, side, points3d=None):
    """Gaze360's head crop (``side`` px) of the head at ``(R, t)``."""
    centre = centre_of(R, t, points3d)
    R_view = geometry.look_at_rotation(centre)
    focal = side * view["eye_mouth_share"] / EYE_MOUTH_MM * np.linalg.norm(centre)
    H = geometry.view_homography(K, R_view, focal, side, side)
    return View(geometry.warp_homography(image, H, side, side, interpolation=_interp()), R_view, H)


def _box_affine3(box, out_w, out_h):
    return geometry.to3x3(geometry.box_to_crop_affine(box, out_w, out_h))


def eye_box(corner_a, corner_b, view):
    """The eye patch's box (x1, y1, x2, y2) from the eye's two corners: centred on them, ``eye_width`` times
    as wide as they are apart, the patch's aspect."""
    a, b = np.asarray(corner_a, np.float64), np.asarray(corner_b, np.float64)
    c = 0.5 * (a + b)
    w = view["eye_width"] * np.linalg.norm(b - a)
    h = w * view["eye_size"][1] / view["eye_size"][0]
    return np.array([c[0] - w / 2, c[1] - h / 2, c[0] + w / 2, c[1] + h / 2])


def head_photo_box(points98, view):
    """The MC4 head photo's square box from the head's 98 landmarks (image px)."""
    return geometry.square_box(geometry.points_box(points98), view["head_box_scale"] * view["head_photo"]
                               / view["head_crop"])


def mc4_views(image, K, points98, corners, view, R_view=None):
    """MC4's three views of one face: ``{"head": head photo, "l_eye": image-left eye, "r_eye": ...}`` and
    the ``View`` geometry (its ``image`` is the head photo).

    ``points98`` (98, 2): the head's landmarks in ``image`` (the renderer's truth, or the mean face projected
    by the fitted head pose); ``corners`` (4, 2): the image-left eye's outer and inner corners, the
    image-right eye's inner and outer corners, in ``image``; ``R_view``: the virtual camera's turn
    (default: looking at the centre of the head box; identity when the face is already centred).
    """
    if R_view is None:
        ray = np.linalg.inv(K) @ np.append(geometry.points_box(points98).reshape(2, 2).mean(0), 1.0)
        R_view = geometry.look_at_rotation(ray)
    Hv = geometry.view_homography(K, R_view, K[0, 0], *(2 * K[:2, 2]))
    side = int(view["head_photo"])
    A = _box_affine3(head_photo_box(geometry.apply_homography(Hv, points98), view), side, side)
    out = {"head": geometry.warp_homography(image, A @ Hv, side, side, interpolation=_interp())}
    c = geometry.apply_homography(Hv, corners)
    ew, eh = view["eye_size"]
    for name, (a, b) in (("l_eye", (c[0], c[1])), ("r_eye", (c[2], c[3]))):
        E = _box_affine3(eye_box(a, b, view), ew, eh)
        out[name] = geometry.warp_homography(image, E @ Hv, ew, eh, interpolation=_interp())
    return out, View(out["head"], R_view, A @ Hv)


def centre_crop(img, side):
    """The MC4 baseline's centre crop: rows and columns ``[c - side/2, c + side/2)`` around the integer centre
    ``(H // 2, W // 2)``, black where the image is smaller."""
    h, w = img.shape[:2]
    x1, y1 = w // 2 - side // 2, h // 2 - side // 2
    out = np.zeros((side, side) + img.shape[2:], img.dtype)
    sx, sy = max(0, x1), max(0, y1)
    ex, ey = min(w, x1 + side), min(h, y1 + side)
    out[sy - y1:ey - y1, sx - x1:ex - x1] = img[sy:ey, sx:ex]
    return out


def tile(images, tiles, channels=3):
    """Paste ``images`` ({name: image}) into one canvas by the tile grid (``schema``'s tiles), each resized
    to its tile (area interpolation when shrinking)."""
    import cv2
    w, h = tiles_size(tiles)
    canvas = np.zeros((h, w, channels) if channels == 3 else (h, w), np.uint8)
    for t in tiles:
        img = images[t["name"]]
        interp = cv2.INTER_AREA if img.shape[1] > t["w"] else cv2.INTER_LINEAR
        canvas[t["y"]:t["y"] + t["h"], t["x"]:t["x"] + t["w"]] = cv2.resize(img, (t["w"], t["h"]),
                                                                               interpolation=interp)
    return canvas


def face_views(image, K, R, t, points, schema, view, head_crop=None):
    """The views of one face a gaze network of ``view`` (``schema.GazeDataset.view``, or an export's) takes:
    ``({tile name, or "frame" for Gaze360: image}, View)``.  The one place both inference
    (``deploy/gaze.py``) and the photo packer (``tools/packers/gaze_photos.py``) cut faces, so training
    crops and inference crops are the same by construction.

    ``R, t``: head pose (``headpose.head_pose_from_landmarks``); ``points`` (K, 2): the face's landmarks in
    ``image`` px, of ``schema`` (MC4 takes its eye corners from them); ``head_crop``: MC4's centre crop.
    """
    kind = view.get("kind")
    if kind == "normalised_face":
        v = normalised_face(image, K, R, t, view)
        return {"face": v.image}, v
    if kind == "head_frames":
        v = head_frame(image, K, R, t, view, HEAD_FRAME_SIDE)
        return {"frame": v.image}, v
    if kind != "mc4_views":
        raise ValueError("no gaze view %r (views: %s)" % (kind, ", ".join(VIEW_KINDS)))
    pts98 = geometry.project(model_points(R, t), K)
    corners = np.asarray(points, np.float64)[list(gaze_point_indices(schema)[:4])]
    views, v = mc4_views(image, K, pts98, corners, view)
    if head_crop:
        views["head"] = centre_crop(views["head"], head_crop)
    return views, v


def window_views(window, frames):
    """The tiles of a Gaze360 network from ``window``, a list of views dicts (oldest first; one dict is a
    still photo, its frame repeated ``frames`` times)."""
    if len(window) == 1:
        window = window * frames
    if len(window) != frames:
        raise ValueError("a %d-frame network got %d frames" % (frames, len(window)))
    half = frames // 2
    return {"frame%+d" % (k - half): w["frame"] for k, w in enumerate(window)}
