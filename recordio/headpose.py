"""Head pose from landmarks: the project's 3D mean face (``face3d``, the face the synthetic renderer draws)
fitted to 2D points of any landmark schema.

Camera: ``geometry.camera_matrix`` (focal = the image width and the principal point at its centre unless
given); the pose is ``R`` (head frame -> camera, ``geometry.euler_to_matrix``'s convention) and ``t`` in mm.
It lives apart from ``geometry`` (pure conventions) because it needs the schemas and the mean face, both of
which use ``geometry`` themselves.
"""
import numpy as np

from recordio import face3d, geometry
from recordio import schema as sch


def _pnp_model(schema_name):
    rigid = list(face3d.RIGID_POINTS)
    if schema_name == "wflw98":
        return face3d.MEAN_FACE_98[rigid], rigid
    if schema_name == "course21":
        idx = [6, 7, 8, 9, 10, 11, 12, 18]  # eye corners and nose: no expression moves them
    elif schema_name == "ibug68":
        idx = list(range(0, 5)) + list(range(12, 17)) + list(range(27, 36)) + [36, 39, 42, 45]
    else:
        raise ValueError("no head-pose model for schema %r" % schema_name)
    return sch.convert_points(face3d.MEAN_FACE_98, schema_name)[idx], idx


def head_pose_from_landmarks(points, image_size, schema="wflw98", focal=None, center=None):
    """Fit the mean 3D face to 2D landmarks with solvePnP.

    Parameters
    ----------
    points : (K, 2) array, continuous pixels of the image the points are in.
    image_size : (width, height) of that image (defines ``camera_matrix``).
    schema : landmark schema name.
    focal : focal length in px (default the image width); see ``geometry.CROP_FOCAL`` for crops.
    center : principal point (x, y) px (default the image centre).

    Returns
    -------
    R : (3, 3) head rotation, t : (3,) translation in mm (camera frame).
    """
    import cv2
    model, idx = _pnp_model(schema)
    img = np.ascontiguousarray(np.asarray(points, dtype=np.float64)[idx])
    K = geometry.camera_matrix(*image_size, focal=focal, center=center)
    ok, rvec, tvec = cv2.solvePnP(model, img, K, None, flags=cv2.SOLVEPNP_EPNP)
    if not ok:
        rvec, tvec = np.zeros((3, 1)), np.array([[0.0], [0.0], [500.0]])
    ok, rvec, tvec = cv2.solvePnP(model, img, K, None, rvec, tvec, useExtrinsicGuess=True,
                                  flags=cv2.SOLVEPNP_ITERATIVE)
    R, _ = cv2.Rodrigues(rvec)
    if np.linalg.det(R) < 0 or tvec[2, 0] <= 0:
        raise ValueError("solvePnP found no head pose in front of the camera")
    return R, tvec.ravel()


def euler_from_landmarks(points, image_size, schema="wflw98", focal=None):
    """Head (pitch, yaw, roll) in degrees from landmarks, see ``head_pose_from_landmarks``."""
    R, _ = head_pose_from_landmarks(points, image_size, schema, focal)
    return np.array(geometry.matrix_to_euler(R))


def roll_from_points(points, schema="wflw98"):
    """In-plane rotation of faces from their landmarks (..., K, 2), degrees, clockwise in the image (the
    ``angle_deg`` of ``similarity_affine``): the rotation of the least-squares similarity taking the schema's
    mean face, seen from the front, onto the points.  All points vote, so it holds for turned faces too."""
    ref = sch.convert_points(face3d.MEAN_FACE_98, schema)[:, :2]
    q = ref - ref.mean(0)
    p = np.asarray(points, np.float64)
    p = p - p.mean(-2, keepdims=True)
    cross = (q[:, 0] * p[..., 1] - q[:, 1] * p[..., 0]).sum(-1)
    return np.degrees(np.arctan2(cross, (q * p).sum((-2, -1))))
