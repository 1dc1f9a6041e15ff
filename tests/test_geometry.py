import numpy as np
import pytest

from recordio import face3d, headpose
from recordio import geometry as G


def test_euler_matrix_round_trip():
    rng = np.random.default_rng(0)
    e = rng.uniform([-80, -170, -170], [80, 170, 170], (200, 3))
    back = np.stack(G.matrix_to_euler(G.euler_to_matrix(e[:, 0], e[:, 1], e[:, 2])), -1)
    np.testing.assert_allclose(back, e, atol=1e-9)


def test_positive_yaw_turns_the_face_to_the_image_left_and_pitch_down():
    facing = G.euler_to_matrix(0, 30, 0) @ G.FORWARD
    assert facing[0] < 0
    facing = G.euler_to_matrix(20, 0, 0) @ G.FORWARD
    assert facing[1] > 0


def test_mc4_angles_vector_round_trip():
    rng = np.random.default_rng(1)
    a = rng.uniform([-170, -85], [170, 85], (100, 2))
    np.testing.assert_allclose(G.vector_to_mc4(G.mc4_to_vector(a[:, 0], a[:, 1])), a, atol=1e-9)


def test_mc4_composition_zero_head_gives_eye_and_zero_eye_gives_head():
    a = np.array([[23.0, -11.0], [-40.0, 17.5]])
    np.testing.assert_allclose(G.mc4_compose(np.zeros(2), a), a, atol=1e-9)
    np.testing.assert_allclose(G.mc4_compose(a, np.zeros(2)), a, atol=1e-9)


def test_mc4_composition_equals_rotation_matrix_product():
    h, e = np.radians([30.0, 10.0]), np.radians([-15.0, 20.0])

    def Ry(t):
        return np.array([[np.cos(t), 0, np.sin(t)], [0, 1, 0], [-np.sin(t), 0, np.cos(t)]])

    def Rx(t):
        return np.array([[1, 0, 0], [0, np.cos(t), -np.sin(t)], [0, np.sin(t), np.cos(t)]])

    g = Ry(h[0]) @ Rx(h[1]) @ Ry(e[0]) @ Rx(e[1]) @ [0, 0, -1]
    np.testing.assert_allclose(G.mc4_compose_vector(np.degrees(h), np.degrees(e)), g, atol=1e-12)
    lo, la = np.degrees(np.arctan2(-g[0], -g[2])), np.degrees(np.arcsin(g[1]))
    np.testing.assert_allclose(G.mc4_compose(np.degrees(h), np.degrees(e)), [lo, la], atol=1e-9)


def test_mpiifacegaze_pitch_yaw_round_trip_and_relation_to_mc4():
    py = np.array([[0.2, -0.5], [-0.3, 0.9]])
    v = G.pitchyaw_to_vector(py[:, 0], py[:, 1])
    np.testing.assert_allclose(G.vector_to_pitchyaw(v), py, atol=1e-12)
    mc4 = G.vector_to_mc4(v)  # lo = yaw, la = -pitch
    np.testing.assert_allclose(mc4, np.degrees(np.stack([py[:, 1], -py[:, 0]], -1)), atol=1e-9)


def test_flip_negates_yaw_of_gaze_and_head():
    v = G.mc4_to_vector(25.0, -10.0)
    np.testing.assert_allclose(G.vector_to_mc4(G.flip_vector(v)), [-25.0, -10.0], atol=1e-9)
    np.testing.assert_allclose(G.flip_euler([5.0, 20.0, -7.0]), [5.0, -20.0, 7.0])
    R = G.euler_to_matrix(5.0, 20.0, -7.0)
    F = np.diag([-1.0, 1.0, 1.0])
    np.testing.assert_allclose(G.matrix_to_euler(F @ R @ F), [5.0, -20.0, 7.0], atol=1e-9)


def test_flip_twice_is_identity():
    from recordio.schema import WFLW98
    pts = np.random.default_rng(2).uniform(0, 200, (98, 2))
    np.testing.assert_allclose(G.flip_points(G.flip_points(pts, 200, WFLW98.flip_perm), 200, WFLW98.flip_perm), pts)


def test_flip_maps_x_to_width_minus_x():
    from recordio.schema import COURSE21
    pts = np.zeros((21, 2))
    pts[6] = [10.0, 5.0]
    assert tuple(G.flip_points(pts, 100, COURSE21.flip_perm)[9]) == (90.0, 5.0)


def test_box_iou_hand_computed():
    iou = G.box_iou([[0, 0, 10, 10]], [[5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 10, 10]])
    np.testing.assert_allclose(iou, [[50 / 150, 0.0, 1.0]])


def test_expand_and_clip_box():
    np.testing.assert_allclose(G.expand_box([10, 20, 50, 100], 0.25), [0, 0, 60, 120])
    np.testing.assert_allclose(G.clip_box([-5, -5, 60, 120], 50, 100), [0, 0, 50, 100])


def test_affine_inverse_and_composition():
    A = G.similarity_affine((10, 20), 33.0, 1.7, (3, -4))
    B = G.box_to_crop_affine((5, 6, 45, 86), 112, 112)
    p = np.random.default_rng(3).uniform(0, 100, (10, 2))
    np.testing.assert_allclose(G.apply_affine(G.invert_affine(A), G.apply_affine(A, p)), p, atol=1e-9)
    np.testing.assert_allclose(G.apply_affine(G.compose_affine(A, B), p), G.apply_affine(A, G.apply_affine(B, p)),
                               atol=1e-9)


def test_warp_uses_continuous_pixel_coordinates():
    img = np.zeros((40, 40), np.uint8)
    img[10, 20] = 255  # pixel centre (20.5, 10.5)
    A = G.box_to_crop_affine((0, 0, 40, 40), 80, 80)  # 2x upsampling
    out = G.warp(img, A, 80, 80)
    centre = G.apply_affine(A, [20.5, 10.5])  # (41, 21): between output pixels 40 and 41
    ys, xs = np.nonzero(out == out.max())
    np.testing.assert_allclose([xs.mean() + 0.5, ys.mean() + 0.5], centre, atol=1e-9)


def test_euler_from_landmarks_recovers_the_pose_of_the_mean_face():
    rng = np.random.default_rng(4)
    W, H = 900, 700
    K = G.camera_matrix(W, H)
    for _ in range(50):
        e = rng.uniform([-30, -60, -30], [30, 60, 30])
        t = [rng.uniform(-200, 200), rng.uniform(-150, 150), rng.uniform(600, 2000)]
        uv = G.project(face3d.MEAN_FACE_98 @ G.euler_to_matrix(*e).T + t, K)
        np.testing.assert_allclose(headpose.euler_from_landmarks(uv, (W, H)), e, atol=1e-6)


def test_euler_from_course21_landmarks_recovers_the_pose():
    from recordio.schema import convert_points
    W, H = 640, 480
    K = G.camera_matrix(W, H)
    e = np.array([12.0, -35.0, 8.0])
    pts = G.project(convert_points(face3d.MEAN_FACE_98, "course21") @ G.euler_to_matrix(*e).T + [30, -20, 900], K)
    np.testing.assert_allclose(headpose.euler_from_landmarks(pts, (W, H), "course21"), e, atol=1e-4)


def test_widely_copied_pfld_euler_bug_is_not_ours():
    # PFLD's code reports about (109, -33, -48) for a frontal face; ours says (0, 0, 0)
    W, H = 112, 112
    K = G.camera_matrix(W, H)
    uv = G.project(face3d.MEAN_FACE_98 + [0, 0, 600], K)
    np.testing.assert_allclose(headpose.euler_from_landmarks(uv, (W, H)), [0, 0, 0], atol=1e-6)


def test_mean_face_is_mirror_symmetric():
    from recordio.schema import WFLW98
    m = face3d.MEAN_FACE_98
    np.testing.assert_allclose(m[list(WFLW98.flip_perm)] * [-1, 1, 1], m, atol=1e-9)


def test_unknown_schema_has_no_pose_model():
    with pytest.raises(ValueError, match="no head-pose model"):
        headpose.euler_from_landmarks(np.zeros((5, 2)), (10, 10), "five")


def test_gaze360_frame_conversions():
    # [-1, 0, 0] in Gaze360's eye frame looks to the right (from the camera's view), [0, 0, -1] into the camera
    np.testing.assert_allclose(G.gaze360_to_vector([-1, 0, 0]), [1, 0, 0])
    np.testing.assert_allclose(G.gaze360_to_vector([0, 0, -1]), G.FORWARD)
    v = np.array([0.3, -0.2, -0.9])
    v /= np.linalg.norm(v)
    yaw, pitch = np.arctan2(v[0], -v[2]), np.arcsin(v[1])  # Gaze360's own formulas
    np.testing.assert_allclose(G.vector_to_yawpitch(G.gaze360_to_vector(v)), [yaw, pitch], atol=1e-12)
    np.testing.assert_allclose(G.yawpitch_to_vector(yaw, pitch), G.gaze360_to_vector(v), atol=1e-12)
    np.testing.assert_allclose(G.vector_to_gaze360(G.gaze360_to_vector(v)), v, atol=1e-12)


def test_box_overlap_over_the_union_or_the_smaller_box_and_nms_by_either():
    from deploy.detect import nms
    outer, inner, apart = [0, 0, 10, 10], [2, 2, 6, 6], [20, 0, 30, 10]
    np.testing.assert_allclose(G.box_iou(outer, [inner, apart]), [[0.16, 0.0]])
    np.testing.assert_allclose(G.box_iou(outer, [inner, apart], over="min"), [[1.0, 0.0]])
    boxes, scores = np.array([outer, inner, apart], float), np.array([0.9, 0.95, 0.5])
    assert nms(boxes, scores, 0.7).tolist() == [1, 0, 2]  # by IoU the inner box is another face
    assert nms(boxes, scores, 0.7, over="min").tolist() == [1, 2]  # inside the surer box: the same face


def test_roll_from_points_recovers_the_turn_of_a_face_at_any_scale_and_place():
    from recordio import schema as sch
    front = sch.convert_points(face3d.MEAN_FACE_98, "course21")[:, :2]
    rolls = np.array([-80.0, -20.0, 0.0, 35.0, 170.0])
    faces = np.stack([G.apply_affine(G.similarity_affine((40.0, -7.0), r, 0.3, (5.0, 9.0)), front)
                      for r in rolls])
    np.testing.assert_allclose(headpose.roll_from_points(faces, "course21"), rolls, atol=1e-9)
    assert abs(headpose.roll_from_points(face3d.MEAN_FACE_98[:, :2]) - 0.0) < 1e-9  # wflw98, one face
    noisy = faces[3] + np.random.default_rng(0).normal(0, 2.0, faces[3].shape)  # a few px of error on a 30 px face
    assert abs(headpose.roll_from_points(noisy, "course21") - 35.0) < 6.0


def test_nms_keeps_what_a_plain_greedy_pass_keeps_and_drops_overlaps_of_exactly_the_threshold():
    """P-Net's windows lie on a grid: IoU of exactly 0.5 is common, and such a window goes (overlap >= iou)."""
    from deploy.detect import nms
    rng = np.random.default_rng(4)
    for trial in range(40):
        n = int(rng.integers(2, 200))
        xy = np.round(rng.uniform(0, 80, (n, 2)) / 2) * 2
        boxes = np.hstack([xy, xy + 12.0])
        scores = rng.uniform(-1, 1, n)
        for iou in (0.3, 0.5, 0.7):
            keep, order = [], list(np.argsort(-scores))
            while order:  # the plain greedy pass
                i = order.pop(0)
                keep.append(i)
                order = [j for j in order if G.box_iou(boxes[i], boxes[j])[0, 0] < iou]
            assert nms(boxes, scores, iou).tolist() == keep, (trial, iou)
    a, b = [0.0, 0.0, 12.0, 12.0], [0.0, 4.0, 12.0, 16.0]  # IoU 96 / 192 = 0.5 exactly
    assert nms(np.array([a, b]), np.array([0.9, 0.8]), 0.5).tolist() == [0]
    assert nms(np.array([a, b]), np.array([0.9, 0.8]), 0.51).tolist() == [0, 1]
