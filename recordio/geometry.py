"""Geometry conventions: the only place angles, rotations, crops and affines are defined.

Pixels: continuous coordinates, (0, 0) is the top-left corner of the top-left
pixel; the centre of pixel (i, j) is (j + 0.5, i + 0.5).

Camera frame: x right, y down, z forward (OpenCV).  A gaze or facing
direction pointing at the camera is (0, 0, -1).

Head pose (pitch, yaw, roll), degrees: the head rotation (head frame of
``face3d`` -> camera) is ``R = R_y(yaw) R_x(pitch) R_z(roll)``.  Positive yaw
turns the face towards the image's left, positive pitch turns it down,
positive roll turns it clockwise in the image.  A horizontal flip negates yaw
and roll.  Head (lo, la) of MC4 are (yaw, pitch) in this convention.

Gaze angles:
- MC4 (lo, la), degrees: ``g = R_y(lo) R_x(la) (0, 0, -1)``, so
  ``lo = atan2(-g_x, -g_z)`` and ``la = asin(g_y)``.
- MPIIFaceGaze (pitch, yaw), radians: ``g = (-cos p sin y, -sin p, -cos p cos y)``.
- Gaze360 vectors are in its eye frame (x left, y up, z away from the camera),
  ``g = (-x, -y, z)`` here; its (yaw, pitch) = ``(atan2(x, -z), asin(y))`` in
  radians equal (MC4 lo, -MC4 la) in radians.
The MC4 composition of head and eye-in-head angles is ``mc4_compose``.
"""
import numpy as np

# --------------------------------------------------------------------------
# rotations


def rot_x(a):
    """Rotation about x by ``a`` radians (array-valued a gives (..., 3, 3))."""
    a = np.asarray(a, dtype=np.float64)
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([o, z, z], -1), np.stack([z, c, -s], -1), np.stack([z, s, c], -1)], -2)


def rot_y(a):
    a = np.asarray(a, dtype=np.float64)
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2)


def rot_z(a):
    a = np.asarray(a, dtype=np.float64)
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, -s, z], -1), np.stack([s, c, z], -1), np.stack([z, z, o], -1)], -2)


def euler_to_matrix(pitch, yaw, roll):
    """Head rotation ``R_y(yaw) R_x(pitch) R_z(roll)`` from degrees, (..., 3, 3)."""
    p, y, r = (np.radians(v) for v in (pitch, yaw, roll))
    return rot_y(y) @ rot_x(p) @ rot_z(r)


def matrix_to_euler(R):
    """Inverse of ``euler_to_matrix``: (pitch, yaw, roll) in degrees, each (...,)."""
    R = np.asarray(R, dtype=np.float64)
    pitch = np.degrees(np.arcsin(np.clip(-R[..., 1, 2], -1.0, 1.0)))
    yaw = np.degrees(np.arctan2(R[..., 0, 2], R[..., 2, 2]))
    roll = np.degrees(np.arctan2(R[..., 1, 0], R[..., 1, 1]))
    return pitch, yaw, roll


def roll_euler(euler, angle_deg):
    """Head (pitch, yaw, roll) after the image turns by ``angle_deg`` about the optical axis (clockwise in
    the image, as ``similarity_affine``): ``R' = R_z(angle) R``."""
    e = np.asarray(euler, dtype=np.float64)
    if abs(angle_deg) < 1e-9:
        return e.copy()
    return np.array(matrix_to_euler(rot_z(np.radians(angle_deg)) @ euler_to_matrix(*e)))


def flip_euler(euler):
    """Euler angles (..., 3) (pitch, yaw, roll) after a horizontal flip."""
    e = np.array(euler, dtype=np.float64)
    e[..., 1:] *= -1
    return e


# --------------------------------------------------------------------------
# camera and head pose


CROP_FOCAL = 6.0  # focal length of a face crop, in crop sides: a face crop spans about 1/6 of a photo's view


def camera_matrix(width, height, focal=None, center=None):
    """The stated camera model: focal length ``focal`` px (default the photo's width, W), principal point
    ``center`` (default the photo's centre).  Photos without known intrinsics get the default (the README
    states it: about a 53-degree horizontal field of view, a phone's or webcam's).

    For a face crop whose photo is unknown use ``CROP_FOCAL * max(W, H)``: a crop is a narrow view.
    """
    f = float(width) if focal is None else float(focal)
    cx, cy = (width / 2.0, height / 2.0) if center is None else (float(center[0]), float(center[1]))
    return np.array([[f, 0.0, cx], [0.0, f, cy], [0.0, 0.0, 1.0]])


def project(points_cam, K):
    """Pinhole projection of (..., 3) camera points to (..., 2) continuous pixels."""
    p = np.asarray(points_cam, dtype=np.float64)
    uv = p[..., :2] / p[..., 2:3]
    return uv * [K[0, 0], K[1, 1]] + [K[0, 2], K[1, 2]]


def apparent_rotation(R, t):
    """Head rotation relative to the viewing ray through ``t``: what a centred crop of the face shows.

    ``R_view^T R`` where ``R_view`` is the smallest rotation taking the optical axis onto ``t``.
    """
    z = np.array([0.0, 0.0, 1.0])
    d = np.asarray(t, dtype=np.float64) / np.linalg.norm(t)
    axis = np.cross(z, d)
    s, c = np.linalg.norm(axis), float(np.dot(z, d))
    if s < 1e-12:
        return np.asarray(R, dtype=np.float64)
    k = axis / s
    Kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    R_view = np.eye(3) + s * Kx + (1 - c) * Kx @ Kx
    return R_view.T @ R


# --------------------------------------------------------------------------
# virtual cameras: a camera turned to look at a face (data normalisation, head crops)
#
# A virtual camera shares the real camera's centre, is turned by ``R_view`` (rows: its right, down and
# forward axes in the real camera's frame) so that its optical axis passes through a 3D point, and has its
# own focal length: the image it sees is the real one warped by the homography
# ``K_view R_view K^-1``, and a direction d of the real camera's frame is ``R_view d`` in the virtual one.


def face_centre(points3d):
    """MPIIFaceGaze's face centre: the midpoint of the four eye corners' mean and the two mouth corners' mean.

    ``points3d`` (..., 6, 3) in ``schema.GAZE_POINTS`` order (eye corners, then mouth corners).
    """
    p = np.asarray(points3d, dtype=np.float64)
    return 0.5 * (p[..., :4, :].mean(-2) + p[..., 4:, :].mean(-2))


def look_at_rotation(target, x_axis=(1.0, 0.0, 0.0)):
    """``R_view`` of a virtual camera looking at ``target`` (3,): forward = target / |target|, down =
    forward x ``x_axis``, right = down x forward (Zhang, Sugano and Bulling, ETRA 2018, with ``x_axis`` the
    head's x axis; the camera's own x axis keeps the image upright)."""
    forward = unit(target)
    down = unit(np.cross(forward, np.asarray(x_axis, dtype=np.float64)))
    return np.stack([unit(np.cross(down, forward)), down, forward])


def view_homography(K, R_view, focal, width, height):
    """(3, 3) homography from real-camera pixels to those of the virtual camera ``R_view`` with focal length
    ``focal`` px and its principal point at the centre of its ``width`` x ``height`` image."""
    K_view = camera_matrix(width, height, focal)
    return K_view @ np.asarray(R_view, dtype=np.float64) @ np.linalg.inv(K)


def apply_homography(H, points):
    """(..., 2) continuous pixels mapped by the 3x3 homography ``H``."""
    p = np.asarray(points, dtype=np.float64)
    q = p @ H[:2, :2].T + H[:2, 2]
    w = p @ H[2, :2] + H[2, 2]
    return q / w[..., None]


def warp_homography(image, H, out_w, out_h, border_value=0, interpolation=None):
    """``cv2.warpPerspective`` with a continuous-pixel homography ``H`` (output pixel q shows input point
    ``H^-1 q``; the half-pixel shift handled as in ``warp``)."""
    import cv2
    S = np.array([[1.0, 0, 0.5], [0, 1.0, 0.5], [0, 0, 1.0]])  # OpenCV's pixel-centre coordinates -> continuous
    Hc = np.linalg.inv(S) @ np.asarray(H, dtype=np.float64) @ S
    flags = cv2.INTER_LINEAR if interpolation is None else interpolation
    return cv2.warpPerspective(image, Hc, (int(out_w), int(out_h)), flags=flags, borderMode=cv2.BORDER_CONSTANT,
                               borderValue=border_value)


# --------------------------------------------------------------------------
# gaze conventions

FORWARD = np.array([0.0, 0.0, -1.0])
DEG = np.pi / 180.0  # radians per degree, for graph code that cannot call np.radians


def mc4_to_vector(lo, la):
    """MC4 (lo, la) in degrees to unit vectors (..., 3) in the camera frame."""
    lo, la = np.radians(lo), np.radians(la)
    return np.stack([-np.sin(lo) * np.cos(la), np.sin(la), -np.cos(lo) * np.cos(la)], -1)


def vector_to_mc4(g):
    """Unit vectors (..., 3) to MC4 (lo, la) in degrees, shape (..., 2)."""
    g = unit(g)
    lo = np.degrees(np.arctan2(-g[..., 0], -g[..., 2]))
    la = np.degrees(np.arcsin(np.clip(g[..., 1], -1.0, 1.0)))
    return np.stack([lo, la], -1)


def mc4_compose(head, eye):
    """Gaze from head and eye-in-head angles (MC4 composition), degrees.

    ``g = R_y(head_lo) R_x(head_la) R_y(eye_lo) R_x(eye_la) (0, 0, -1)``.

    Parameters
    ----------
    head, eye : (..., 2) arrays of (lo, la) in degrees.

    Returns
    -------
    (..., 2) gaze (lo, la) in degrees.
    """
    return vector_to_mc4(mc4_compose_vector(head, eye))


def mc4_compose_vector(head, eye):
    """As ``mc4_compose`` but returns the gaze unit vector (..., 3)."""
    head = np.radians(np.asarray(head, dtype=np.float64))
    eye = np.radians(np.asarray(eye, dtype=np.float64))
    R = rot_y(head[..., 0]) @ rot_x(head[..., 1]) @ rot_y(eye[..., 0]) @ rot_x(eye[..., 1])
    return R @ FORWARD


def pitchyaw_to_vector(pitch, yaw):
    """MPIIFaceGaze (pitch, yaw) in radians to unit vectors (..., 3)."""
    return np.stack([-np.cos(pitch) * np.sin(yaw), -np.sin(pitch), -np.cos(pitch) * np.cos(yaw)], -1)


def vector_to_pitchyaw(g):
    """Unit vectors (..., 3) to MPIIFaceGaze (pitch, yaw) in radians, (..., 2)."""
    g = unit(g)
    pitch = np.arcsin(np.clip(-g[..., 1], -1.0, 1.0))
    yaw = np.arctan2(-g[..., 0], -g[..., 2])
    return np.stack([pitch, yaw], -1)


def gaze360_to_vector(v):
    """Gaze360 eye-frame vectors (..., 3) to unit vectors in our camera frame."""
    return unit(np.asarray(v, dtype=np.float64) * [-1.0, -1.0, 1.0])


def vector_to_gaze360(g):
    """Our camera-frame vectors (..., 3) to Gaze360 eye-frame unit vectors."""
    return unit(np.asarray(g, dtype=np.float64) * [-1.0, -1.0, 1.0])


def yawpitch_to_vector(yaw, pitch):
    """Gaze360's (yaw, pitch) in radians to unit vectors (..., 3) in our camera frame."""
    return mc4_to_vector(np.degrees(yaw), -np.degrees(pitch))


def vector_to_yawpitch(g):
    """Unit vectors (..., 3) to Gaze360's (yaw, pitch) in radians, (..., 2)."""
    lo_la = np.radians(vector_to_mc4(g))
    return np.stack([lo_la[..., 0], -lo_la[..., 1]], -1)


def flip_vector(g):
    """A direction (..., 3) after a horizontal image flip (x negated)."""
    g = np.array(g, dtype=np.float64)
    g[..., 0] *= -1
    return g


def angular_error_deg(a, b):
    """Angle in degrees between direction vectors (..., 3)."""
    dot = np.sum(unit(a) * unit(b), axis=-1)
    return np.degrees(np.arccos(np.clip(dot, -1.0, 1.0)))


def unit(v):
    """Unit vectors along the last axis (a zero vector stays zero)."""
    v = np.asarray(v, dtype=np.float64)
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


# --------------------------------------------------------------------------
# points, boxes and affines


def mirror_affine(width):
    """The 2x3 affine of a horizontal flip of an image ``width`` px wide: x -> width - x."""
    return np.array([[-1.0, 0.0, float(width)], [0.0, 1.0, 0.0]])


def flip_points(points, width, flip_perm):
    """Mirror (K, 2) points in an image of ``width`` px and permute them."""
    p = np.array(points, dtype=np.float64)[..., list(flip_perm), :]
    p[..., 0] = width - p[..., 0]
    return p


def box_size(box):
    b = np.asarray(box, dtype=np.float64)
    return b[..., 2] - b[..., 0], b[..., 3] - b[..., 1]


def expand_box(box, ratio):
    """Grow a box (x1, y1, x2, y2) by ``ratio`` of its width/height on each side."""
    b = np.array(box, dtype=np.float64)
    w, h = box_size(b)
    return b + np.stack([-ratio * w, -ratio * h, ratio * w, ratio * h], -1)


def clip_box(box, width, height):
    b = np.array(box, dtype=np.float64)
    b[..., [0, 2]] = np.clip(b[..., [0, 2]], 0, width)
    b[..., [1, 3]] = np.clip(b[..., [1, 3]], 0, height)
    return b


def square_box(box, scale=1.0):
    """The square box of side ``scale * max(w, h)`` with the same centre."""
    b = np.asarray(box, dtype=np.float64)
    c = 0.5 * (b[..., :2] + b[..., 2:])
    half = 0.5 * scale * np.maximum(*box_size(b))
    return np.concatenate([c - half[..., None], c + half[..., None]], -1)


def points_box(points):
    """Tight box (x1, y1, x2, y2) around (..., K, 2) points."""
    p = np.asarray(points, dtype=np.float64)
    return np.concatenate([p.min(-2), p.max(-2)], -1)


def box_iou(a, b, over="union"):
    """IoU of boxes a (N, 4) and b (M, 4) -> (N, M); ``over="min"``: the intersection over the smaller box's
    area instead (a box inside a larger one overlaps it fully)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), -1)
    area_a = np.prod(a[:, 2:] - a[:, :2], -1)
    area_b = np.prod(b[:, 2:] - b[:, :2], -1)
    if over == "min":
        return inter / np.maximum(np.minimum(area_a[:, None], area_b[None, :]), 1e-12)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-12)


def map_box(box, box_map):
    """Apply a detector's box map to its boxes (..., 4): the box the annotators would have drawn.

    ``box_map`` (dx, dy, sw, sh): the centre moves by (dx * w, dy * h) and the size scales by (sw, sh), w and
    h the detector box's size.  (0, 0, 1, 1) is the identity.
    """
    b = np.asarray(box, dtype=np.float64)
    dx, dy, sw, sh = box_map
    w, h = box_size(b)
    cx, cy = 0.5 * (b[..., 0] + b[..., 2]) + dx * w, 0.5 * (b[..., 1] + b[..., 3]) + dy * h
    return np.stack([cx - 0.5 * sw * w, cy - 0.5 * sh * h, cx + 0.5 * sw * w, cy + 0.5 * sh * h], -1)


def fit_box_map(detected, annotated):
    """The box map (``map_box``) from detector boxes (N, 4) to the annotated boxes they found (N, 4): the
    median centre offset and size ratio, in detector-box units (the median: a few poor matches do not
    pull it)."""
    d = np.asarray(detected, dtype=np.float64).reshape(-1, 4)
    a = np.asarray(annotated, dtype=np.float64).reshape(-1, 4)
    if not len(d):
        raise ValueError("no matched boxes to fit a box map on")
    dw, dh = box_size(d)
    aw, ah = box_size(a)
    dx = (0.5 * (a[:, 0] + a[:, 2]) - 0.5 * (d[:, 0] + d[:, 2])) / dw
    dy = (0.5 * (a[:, 1] + a[:, 3]) - 0.5 * (d[:, 1] + d[:, 3])) / dh
    return tuple(float(np.median(v)) for v in (dx, dy, aw / dw, ah / dh))


def match_boxes(pred, truth, min_iou=0.5):
    """Greedy one-to-one matching of predicted boxes to true boxes by IoU (highest first).

    Returns a list of (pred index, truth index, iou) with iou >= ``min_iou``.
    """
    iou = box_iou(pred, truth) if len(pred) and len(truth) else np.zeros((len(pred), len(truth)))
    pairs, used_p, used_t = [], set(), set()
    for k in np.argsort(-iou, axis=None):
        i, j = np.unravel_index(k, iou.shape)
        if iou[i, j] < min_iou:
            break
        if i not in used_p and j not in used_t:
            pairs.append((int(i), int(j), float(iou[i, j])))
            used_p.add(i)
            used_t.add(j)
    return pairs


def crop_box_from_recipe(box, photo_size, recipe):
    """The crop a packer made around a face box, from the archive meta's ``crop`` recipe.

    course21: the box expanded by ``expand`` and clipped to the photo; WFLW/COCO
    packed with ``--crop box``: a square around the box grown by ``margin``.
    Without a recipe the box itself is the crop.
    """
    recipe = recipe or {}
    w, h = photo_size
    if "expand" in recipe:
        b = expand_box(box, recipe["expand"])
        return clip_box(b, w, h) if recipe.get("clipped_to_photo") else b
    if recipe.get("square"):
        return square_box(box, 1 + 2 * recipe.get("margin", 0.0))
    return np.asarray(box, dtype=np.float64)


def box_to_crop_affine(box, out_w, out_h):
    """2x3 affine mapping photo px to crop px so that ``box`` fills the crop."""
    x1, y1, x2, y2 = [float(v) for v in box]
    sx, sy = out_w / (x2 - x1), out_h / (y2 - y1)
    return np.array([[sx, 0.0, -sx * x1], [0.0, sy, -sy * y1]])


def to3x3(A):
    A = np.asarray(A, dtype=np.float64).reshape(2, 3)
    return np.vstack([A, [0.0, 0.0, 1.0]])


def _affines(A):
    """2x3 affines as (..., 2, 3) float64 (a flat (6,) vector is one affine)."""
    A = np.asarray(A, dtype=np.float64)
    return A.reshape(2, 3) if A.shape == (6,) else A


def invert_affine(A):
    """The inverse of each 2x3 affine (..., 2, 3) (or flat (6,)), in closed form (no LAPACK call: cheap in loader
    workers, and free of the BLAS threads that stall under load)."""
    A = _affines(A)
    a, b, c, d, e, f = (A[..., i, j] for i in (0, 1) for j in (0, 1, 2))
    det = a * e - b * d
    inv = np.empty(A.shape)
    inv[..., 0, 0], inv[..., 0, 1] = e / det, -b / det
    inv[..., 1, 0], inv[..., 1, 1] = -d / det, a / det
    inv[..., 0, 2] = -(inv[..., 0, 0] * c + inv[..., 0, 1] * f)
    inv[..., 1, 2] = -(inv[..., 1, 0] * c + inv[..., 1, 1] * f)
    return inv


def compose_affine(A, B):
    """The affine ``A o B`` (apply B first); either may be a stack (..., 2, 3) (broadcast)."""
    A, B = _affines(A), _affines(B)
    out = A[..., :, :2] @ B
    out[..., :, 2] += A[..., :, 2]
    return out


def apply_affine(A, points):
    """Map (..., 2) points by the 2x3 affine ``A``."""
    A = np.asarray(A, dtype=np.float64).reshape(2, 3)
    p = np.asarray(points, dtype=np.float64)
    return p @ A[:, :2].T + A[:, 2]


def apply_affines(A, points):
    """Map a batch of (N, K, 2) points, each set by its own 2x3 affine (N, 2, 3) or (N, 6)."""
    A = np.asarray(A, dtype=np.float64).reshape(-1, 2, 3)
    return np.einsum("nij,nkj->nki", A[:, :, :2], np.asarray(points, dtype=np.float64)) + A[:, None, :, 2]


def similarity_affine(centre, angle_deg, scale, shift=(0.0, 0.0)):
    """Rotate by ``angle_deg`` (clockwise in the image) and scale about ``centre``, then shift.  ``angle_deg``,
    ``scale`` (...,) and ``shift`` (..., 2) may be arrays: a stack of affines (..., 2, 3)."""
    a = np.radians(np.asarray(angle_deg, dtype=np.float64))
    c, s = scale * np.cos(a), scale * np.sin(a)
    cx, cy = centre
    shift = np.asarray(shift, dtype=np.float64)
    c, s, sx, sy = np.broadcast_arrays(c, s, shift[..., 0], shift[..., 1])
    return np.stack([np.stack([c, -s, cx - c * cx + s * cy + sx], -1),
                     np.stack([s, c, cy - s * cx - c * cy + sy], -1)], -2)


def affine_rotation_deg(A):
    """The in-plane rotation of a 2x3 affine without reflection, degrees, clockwise in the image (the
    ``angle_deg`` of ``similarity_affine``); of each affine of a stack (..., 2, 3)."""
    A = _affines(A)
    return np.degrees(np.arctan2(A[..., 1, 0], A[..., 0, 0]))


def cv_fixed(points, shift):
    """Continuous coordinates (..., 2) as OpenCV's fixed-point pixel-centre coordinates with ``shift`` bits."""
    return np.round((np.asarray(points, dtype=np.float64) - 0.5) * (1 << shift)).astype(np.int32)


def draw_points(img, points, colour, radius=2.0, shift=2):
    """Draw filled, anti-aliased dots of ``radius`` px centred on continuous coordinates (K, 2)."""
    import cv2
    r = max(1, int(round(radius * (1 << shift))))
    for x, y in cv_fixed(np.asarray(points, dtype=np.float64).reshape(-1, 2), shift):
        cv2.circle(img, (int(x), int(y)), r, colour, -1, cv2.LINE_AA, shift)
    return img


def to_cv_affine(A):
    """Convert a continuous-coordinate affine to OpenCV's pixel-centre convention."""
    A = np.asarray(A, dtype=np.float64).reshape(2, 3)
    M = A.copy()
    M[:, 2] = A[:, :2] @ [0.5, 0.5] + A[:, 2] - 0.5
    return M


def warp(image, A, out_w, out_h, border_value=0, interpolation=None):
    """Resample ``image`` so that output pixel q shows input point ``A^-1 q``."""
    import cv2
    if interpolation is None:
        interpolation = cv2.INTER_LINEAR
    return cv2.warpAffine(image, to_cv_affine(A), (int(out_w), int(out_h)), flags=interpolation,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=border_value)
