"""A parametric 3D face: the 98 WFLW points on a head surface.

Head frame, millimetres: x to the image right when the face is frontal, y
down, z away from the camera; the origin is the head's rotation centre on the
line between the eyes, about 85 mm behind the face surface.  A frontal face
looks along -z.

``face_points_3d()`` with no arguments is the mean face that
``headpose.euler_from_landmarks`` fits with solvePnP; the synthetic renderer
draws the same model with identity and expression variations, so pose
recovered from rendered landmarks can be checked against the rendered pose.
"""
import numpy as np

from .schema import WFLW98

EYE_RADIUS = 12.0  # mm, adult eyeball
IRIS_RADIUS = 6.0  # mm
PUPIL_RADIUS = 2.2  # mm
HEAD_RADII = (72.0, 118.0, 98.0)  # skull ellipsoid half-axes x, y, z (mm)
HEAD_CENTRE = (0.0, -5.0, 8.0)  # skull ellipsoid centre in the head frame (mm)
HAIRLINE_Y = -52.0  # mm above the eye line where the scalp starts

IDENTITY_DEFAULTS = {
    "face_width": 1.0,  # scale of the jaw and cheek contour in x
    "face_length": 1.0,  # scale of the lower face in y
    "eye_spacing": 1.0,
    "eye_size": 1.0,
    "nose_length": 1.0,
    "nose_width": 1.0,
    "mouth_width": 1.0,
    "mouth_y": 0.0,  # mm shift of the mouth
    "brow_y": 0.0,  # mm shift of the brows
    "relief": 1.0,  # scale of nose and lip protrusion
}
EXPRESSION_DEFAULTS = {
    "mouth_open": 0.0,  # mm the jaw drops at the lips
    "brow_raise": 0.0,  # mm
    "eye_narrow": 0.0,  # fraction of the eye opening closed, 0..0.7
    "smile": 0.0,  # mm the mouth corners move up and out
}

# Points that move neither with expression nor with eye rotation: the fixed
# frame solvePnP fits (upper contour, eye corners, nose).
RIGID_POINTS = tuple(list(range(0, 9)) + list(range(24, 33)) + [60, 64, 68, 72] + list(range(51, 60)))

_LEFT_OR_CENTRE = (
    list(range(0, 17)) + list(range(33, 42)) + [51, 52, 53, 54, 55, 56, 57]
    + list(range(60, 68)) + [76, 77, 78, 79, 85, 86, 87, 88, 89, 90, 94, 95, 96]
)


def _surface_z(x, y):
    """Depth of the face surface (mm, negative towards the camera)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    across = -85.0 * np.sqrt(np.clip(1.0 - (x / 80.0) ** 2, 0.04, None))
    along = np.where(y < 0, 0.002 * y ** 2, 0.0009 * y ** 2)
    return across + along


def surface_normal(x, y):
    """Outward unit normal of the face surface at (x, y), shape (..., 3)."""
    eps = 0.5
    dzdx = (_surface_z(x + eps, y) - _surface_z(x - eps, y)) / (2 * eps)
    dzdy = (_surface_z(x, y + eps) - _surface_z(x, y - eps)) / (2 * eps)
    n = np.stack([dzdx, dzdy, -np.ones_like(dzdx)], axis=-1)
    return n / np.linalg.norm(n, axis=-1, keepdims=True)


def _params(defaults, given):
    out = dict(defaults)
    if given:
        unknown = set(given) - set(defaults)
        if unknown:
            raise KeyError("unknown face parameters: %s" % ", ".join(sorted(unknown)))
        out.update(given)
    return out


def _eyeball_centres(pts):
    out = []
    for outer, inner in ((60, 64), (72, 68)):
        c = 0.5 * (pts[outer] + pts[inner])
        front = c[2] - 3.0  # the cornea bulges 3 mm in front of the corners
        out.append([c[0], c[1] + 0.5, front + EYE_RADIUS])
    return np.array(out)


def face_points_3d(identity=None, expression=None):
    """The 98 WFLW points in the head frame, shape (98, 3), mm.

    Parameters
    ----------
    identity : dict, optional
        Face shape factors, see ``IDENTITY_DEFAULTS``.
    expression : dict, optional
        See ``EXPRESSION_DEFAULTS``.

    Pupils (96, 97) are placed for a straight-ahead gaze; the renderer moves
    them with the eye rotation.
    """
    idn = _params(IDENTITY_DEFAULTS, identity)
    exp = _params(EXPRESSION_DEFAULTS, expression)
    p = np.zeros((98, 3))
    relief = idn["relief"]

    # contour 0..16: a squared half-ellipse from the temple to the chin
    a = 70.0 * idn["face_width"]
    top = -2.0
    chin = 118.0 * idn["face_length"]
    theta = np.linspace(0.0, np.pi / 2, 17)
    n_sq = 2.5
    p[0:17, 0] = -a * np.cos(theta) ** (2.0 / n_sq)
    p[0:17, 1] = top + (chin - top) * np.sin(theta) ** (2.0 / n_sq)
    p[16, 0] = 0.0

    by = idn["brow_y"] - exp["brow_raise"]
    brow = np.array([
        [-54, -14], [-44, -21], [-33, -23.5], [-22, -22.5], [-12, -19],  # 33..37 upper, outer->inner
        [-13, -15], [-23, -17.5], [-34, -18.5], [-45, -16],  # 38..41 lower, inner->outer
    ], dtype=np.float64)
    brow[:, 0] *= 0.5 * (1 + idn["eye_spacing"])
    brow[:, 1] += by
    p[33:42, :2] = brow

    nl, nw = idn["nose_length"], idn["nose_width"]
    p[51:55, 0] = 0.0
    p[51:55, 1] = np.array([2.0, 15.0, 28.0, 40.0]) * nl
    p[55:58, :2] = [[-15.0 * nw, 44.0 * nl], [-8.0 * nw, 47.0 * nl], [0.0, 48.0 * nl]]

    cx = -31.0 * idn["eye_spacing"]
    hw = 15.0 * idn["eye_size"]
    hu = 5.5 * idn["eye_size"] * (1 - exp["eye_narrow"])
    hl = 4.0 * idn["eye_size"] * (1 - 0.5 * exp["eye_narrow"])
    t = np.array([0.25, 0.5, 0.75])
    p[60, :2] = [cx - hw, 0.0]
    p[61:64, 0] = cx - hw + 2 * hw * t
    p[61:64, 1] = -hu * np.sin(np.pi * t) ** 0.8
    p[64, :2] = [cx + hw, 0.8]
    p[65:68, 0] = cx - hw + 2 * hw * t[::-1]
    p[65:68, 1] = hl * np.sin(np.pi * t[::-1]) ** 0.8

    my = 70.0 * idn["face_length"] + idn["mouth_y"]
    mw, op, sm = idn["mouth_width"], exp["mouth_open"], exp["smile"]
    p[76, :2] = [-(25.0 * mw + 0.4 * sm), my - sm]
    p[77, :2] = [-15.0 * mw, my - 6.0 - 0.3 * sm]
    p[78, :2] = [-6.0 * mw, my - 8.5]
    p[79, :2] = [0.0, my - 7.5]
    p[85, :2] = [0.0, my + 10.0 + op]
    p[86, :2] = [-9.0 * mw, my + 9.0 + op]
    p[87, :2] = [-18.0 * mw, my + 6.0 + 0.6 * op - 0.5 * sm]
    p[88, :2] = [-(21.0 * mw + 0.3 * sm), my - 0.8 * sm]
    p[89, :2] = [-10.0 * mw, my - 1.8]
    p[90, :2] = [0.0, my - 1.2]
    p[94, :2] = [0.0, my + 1.2 + op]
    p[95, :2] = [-10.0 * mw, my + 1.0 + 0.9 * op]

    # the jaw drops with the mouth: contour points below the mouth follow
    below = np.clip((p[0:17, 1] - my) / max(chin - my, 1e-6), 0, 1)
    p[0:17, 1] += 0.8 * op * below

    z = _surface_z(p[:, 0], p[:, 1])
    offsets = np.zeros(98)
    offsets[33:42] = -3.0
    offsets[[60, 64]] = 4.0
    offsets[61:64] = 1.0
    offsets[65:68] = 2.0
    offsets[51:55] = np.array([-4.0, -9.0, -16.0, -26.0]) * relief
    offsets[55:58] = np.array([-6.0, -10.0, -12.0]) * relief
    offsets[[76, 88]] = -1.0 * relief
    offsets[[77, 87]] = -5.0 * relief
    offsets[[78, 79, 86, 85]] = -8.0 * relief
    offsets[[89, 95]] = -4.0 * relief
    offsets[[90, 94]] = -5.5 * relief
    p[:, 2] = z + offsets

    right = [i for i in range(98) if i not in _LEFT_OR_CENTRE]
    perm = np.asarray(WFLW98.flip_perm)
    p[right] = p[perm[right]] * [-1.0, 1.0, 1.0]

    centres = _eyeball_centres(p)
    p[96] = centres[0] - [0.0, 0.0, EYE_RADIUS]
    p[97] = centres[1] - [0.0, 0.0, EYE_RADIUS]
    return p


def point_normals(points):
    """Outward unit normals (98, 3) of the face points in the head frame.

    The nose ridge faces forward; every other point takes the normal of the
    face surface under it.
    """
    n = surface_normal(points[:, 0], points[:, 1])
    ridge = [51, 52, 53, 54, 56, 57, 58]
    n[ridge] = 0.5 * n[ridge] + 0.5 * np.array([0.0, 0.0, -1.0])
    return n / np.linalg.norm(n, axis=-1, keepdims=True)


MEAN_FACE_98 = face_points_3d()
