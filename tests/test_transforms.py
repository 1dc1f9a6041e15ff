import cv2
import mxnet as mx
import numpy as np

from recordio import geometry
from recordio.schema import COURSE21, WFLW98, landmark_layout
from recordio.transforms import LandmarkTransform, landmark_presets


def _dotted(schema, size=128, seed=0):
    """An image with one dot of its own colour at each landmark (on a jittered grid), and its label."""
    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(schema.num_points)))
    step = 0.5 * size / side
    grid = np.stack(np.meshgrid(np.arange(side), np.arange(side)), -1).reshape(-1, 2)[:schema.num_points]
    pts = 0.25 * size + (grid + 0.5) * step + rng.uniform(-0.15, 0.15, grid.shape) * step
    img = np.zeros((size, size, 3), np.uint8)
    colours = rng.integers(60, 256, (schema.num_points, 3))
    radius = 0.3 * step
    for (x, y), colour in zip(pts, colours):
        cv2.circle(img, (int(round((x - 0.5) * 16)), int(round((y - 0.5) * 16))), int(radius * 16),
                   tuple(int(c) for c in colour), -1, cv2.LINE_8, 4)
    L = landmark_layout(schema)
    label = L.pack(face=1, points=pts, affine=geometry.invert_affine(np.eye(2, 3)), euler=[10, 20, 5])
    return img, label, L, colours


def _own_dot(px, i, colours):
    """The pixel's colour is nearer dot i's colour than any other dot's or the background's."""
    palette = np.vstack([colours, [[0, 0, 0]]]).astype(float)
    return int(np.argmin(np.abs(palette - px).sum(1))) == i


def test_dot_test_every_point_stays_on_its_dot():
    img, label, L, colours = _dotted(COURSE21)
    t = LandmarkTransform(COURSE21, size=112, channels=3, train=True, flip=0.5, rotate=30, color=0.0, gray=0.0,
                          seed=1)
    flips = 0
    for _ in range(20):
        M, flipped = t.sample_params(*img.shape[1::-1])
        out, lab = t.apply(img, label, M, flipped)
        flips += flipped
        pts = L.get(lab, "points").reshape(-1, 2)
        for i, (x, y) in enumerate(pts):
            # after a flip, point i is the mirror image of point perm[i] and sits on that point's dot
            dot = COURSE21.flip_perm[i] if flipped else i
            assert _own_dot(out[int(y), int(x)], dot, colours), i  # continuous (x, y) lies in pixel (int y, int x)
    assert 0 < flips < 20


def test_flip_swaps_left_and_right_and_negates_yaw_and_roll():
    img, label, L, _ = _dotted(WFLW98)
    t = LandmarkTransform(WFLW98, size=128, train=True, flip=1.0, rotate=0, scale=(1, 1), shift=0, color=0,
                          gray=0)
    _, lab = t(img, label)
    src = L.get(label, "points").reshape(-1, 2)
    out = L.get(lab, "points").reshape(-1, 2)
    np.testing.assert_allclose(out[60], [128 - src[72, 0], src[72, 1]], atol=1e-4)
    np.testing.assert_allclose(L.get(lab, "euler"), [10, -20, -5], atol=1e-5)


def test_rotation_composes_into_the_head_roll():
    img, label, L, _ = _dotted(COURSE21)
    lab = label.copy()
    lab[L.slice("euler")] = [0, 0, 0.001]
    t = LandmarkTransform(COURSE21, size=128, train=True, flip=0.0, rotate=0, scale=(1, 1), shift=0, color=0)
    M = geometry.similarity_affine((64, 64), 15.0, 1.0)
    _, out = t.apply(img, lab, M, False)
    np.testing.assert_allclose(L.get(out, "euler"), [0, 0, 15.001], atol=1e-3)


def test_affine_still_maps_points_to_the_photo():
    img, label, L, _ = _dotted(WFLW98)
    A = geometry.similarity_affine((0, 0), 0, 2.0, (100, 50))  # crop -> photo
    label[L.slice("affine")] = A.ravel()
    photo = geometry.apply_affine(A, L.get(label, "points").reshape(-1, 2))
    t = LandmarkTransform(WFLW98, size=96, train=True, flip=0.5, seed=3)
    for _ in range(5):
        _, lab = t(img, label)
        back = geometry.apply_affine(L.get(lab, "affine").reshape(2, 3), L.get(lab, "points").reshape(-1, 2))
        if not np.allclose(back, photo, atol=1e-3):  # a flipped sample maps point i to photo point perm[i]
            np.testing.assert_allclose(back, photo[list(WFLW98.flip_perm)], atol=1e-3)


def test_val_preset_only_resizes():
    img, label, L, _ = _dotted(COURSE21, size=128)
    _, val = landmark_presets(COURSE21, size=64, channels=1)
    data, lab = val(img, label)
    assert data.shape == (1, 64, 64) and data.dtype == np.uint8
    np.testing.assert_allclose(L.get(lab, "points"), L.get(label, "points") / 2, atol=1e-5)


def test_transform_runs_in_dataloader_workers():
    img, label, L, _ = _dotted(COURSE21, size=112)
    ds = mx.gluon.data.SimpleDataset([(img, label)] * 8).transform(lambda a, b: LandmarkTransform(COURSE21)(a, b))
    batches = list(mx.gluon.data.DataLoader(ds, batch_size=4, num_workers=2))
    assert batches[0][0].shape == (4, 3, 112, 112) and batches[0][1].shape == (4, L.width)


def test_dot_test_holds_for_small_faces_too():
    img, label, L, colours = _dotted(COURSE21, size=256)
    t = LandmarkTransform(COURSE21, size=112, channels=3, train=True, flip=0.5, rotate=30, color=0.0, gray=0.0,
                          lowres=1.0, lowres_factor=(2.0, 3.0), seed=2)
    rng = np.random.default_rng(5)
    for k in range(10):
        M, flipped = t.sample_params(*img.shape[1::-1], rng)
        out, lab = t.apply(img, label, M, flipped, t.small_face(img, rng))
        for i, (x, y) in enumerate(L.get(lab, "points").reshape(-1, 2)):
            dot = COURSE21.flip_perm[i] if flipped else i
            assert _own_dot(out[int(y), int(x)], dot, colours), (k, i)
    # a small face has less detail: the dots' edges are softer than in the sharp crop
    sharp = LandmarkTransform(COURSE21, size=112, channels=3, train=True, flip=0.0, rotate=0, scale=(1, 1),
                              shift=0, color=0.0, gray=0.0, lowres=1.0, lowres_factor=(4.0, 4.0))
    M, _ = sharp.sample_params(*img.shape[1::-1])
    small, _ = sharp.apply(img, label, M, False, sharp.small_face(img, np.random.default_rng(9)))
    clear, _ = sharp.apply(img, label, M, False)
    detail = [cv2.Laplacian(cv2.cvtColor(a, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var() for a in (small, clear)]
    assert detail[0] < 0.5 * detail[1]


def test_pose_balanced_weights_lift_rare_poses_up_to_the_cap():
    import argparse
    from train.landmark_task import MAX_POSE_WEIGHT, LandmarkTask
    L = landmark_layout(COURSE21)
    eulers = [[0, 5, 0]] * 16 + [[0, 45, 0]] * 4 + [[0, 80, 0]] * 1 + [[0, 0, 45]] * 2
    labels = np.stack([L.pack(face=1, euler=e) for e in eulers] + [L.pack(face=0)])

    class Shard:
        def labels(self):
            return labels

    task = LandmarkTask.__new__(LandmarkTask)
    task.layout, task.args = L, argparse.Namespace(balance_pose=True)
    w = task.sample_weights(Shard())
    np.testing.assert_allclose(w[:16], 1.0)
    np.testing.assert_allclose(w[16:20], 4.0)  # 16 frontal faces against 4 half-profiles
    np.testing.assert_allclose(w[20], MAX_POSE_WEIGHT)  # one profile: 16x its share, capped
    np.testing.assert_allclose(w[21:23], 8.0)
    assert w[23] == 1.0  # the non-face crop


def test_integral_heatmap_gives_the_peak_cell_centre_as_shares_of_the_side():
    from symbols.landmarks import IntegralHeatmap
    block = IntegralHeatmap(2)
    block.initialize()
    maps = np.full((1, 2, 8, 8), -50.0, np.float32)
    maps[0, 0, 2, 5] = 50.0  # row 2, column 5
    maps[0, 1, 7, 0] = 50.0
    out = block(mx.nd.array(maps)).asnumpy()
    np.testing.assert_allclose(out[0], [5.5 / 8, 2.5 / 8, 0.5 / 8, 7.5 / 8], atol=1e-5)
    flat = block(mx.nd.zeros((1, 2, 8, 8))).asnumpy()
    np.testing.assert_allclose(flat[0], 0.5, atol=1e-6)  # a flat map: the centre
