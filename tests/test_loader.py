"""The training loader: whole batches made in one call per worker, JPEG records decoded scaled down where the
warp needs no more, each sample's draws a function of (seed, pass, sample), and the colour jitter's arithmetic."""
import cv2
import numpy as np

from recordio import geometry
from recordio.dataset import RecordDataset, sample_uniforms
from recordio.schema import COURSE21, landmark_layout
from recordio.transforms import LandmarkTransform, jitter_colour_drawn
from recordio.writer import ArchiveWriter, encode_image


def _dotted_archive(prefix, n=6, size=448):
    """JPEG records ``size`` px wide, each with one dot of its own colour at each landmark."""
    L = landmark_layout(COURSE21)
    rng = np.random.default_rng(0)
    colours = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [255, 0, 255], [0, 255, 255],
                        [255, 255, 255]] * 3)[:COURSE21.num_points]
    side = 5
    step = 0.5 * size / side
    grid = np.stack(np.meshgrid(np.arange(side), np.arange(side)), -1).reshape(-1, 2)[:COURSE21.num_points]
    meta = {"task": "landmarks", "schema": COURSE21.name, "label_layout_obj": L,
            "image": {"width": size, "height": size, "channels": 3, "color": "bgr", "encoding": "jpg"}}
    with ArchiveWriter(prefix, meta) as w:
        for _ in range(n):
            pts = 0.25 * size + (grid + 0.5) * step + rng.uniform(-0.1, 0.1, grid.shape) * step
            img = np.zeros((size, size, 3), np.uint8)
            for (x, y), colour in zip(pts, colours):
                cv2.circle(img, (int(round((x - 0.5) * 16)), int(round((y - 0.5) * 16))), int(0.3 * step * 16),
                           tuple(int(c) for c in colour), -1, cv2.LINE_8, 4)
            w.write(L.pack(face=1, points=pts, affine=np.eye(2, 3), euler=[5, 10, 0]), encode_image(img, "jpg", 98))
        w.close()
    return L, colours


def _nearest_colour(px, colours):
    palette = np.vstack([colours, [[0, 0, 0]]]).astype(float)
    return int(np.argmin(np.abs(palette - px).sum(1)))


def test_every_point_of_a_whole_batch_stays_on_its_dot_with_scaled_down_decoding(tmp_path):
    from train.loop import EpochBatches, train_loader
    L, colours = _dotted_archive(str(tmp_path / "dots"))
    tf = LandmarkTransform(COURSE21, size=112, train=True, flip=0.5, rotate=30, color=0.0, gray=0.0)
    assert tf.decode_reduction(448, 448) == 2  # 448 / 112 / 1.1: output pixels at least 3.6 record px apart
    ds = RecordDataset(str(tmp_path / "dots"), tf, seed=(1, 0))
    made = ds[tuple(range(12))]  # two passes
    assert made.images[0].shape == (224, 224, 3)  # decoded at half size
    steps = 4
    batches = EpochBatches(len(ds), 3, steps, (1, 0)).batches(0)
    loaded = list(train_loader(ds, 3, 2, (1, 0), steps))
    flips = 0
    for keys, (data, label) in zip(batches, loaded):
        data, label = data.asnumpy(), label.asnumpy()
        want_data, want_label = ds[tuple(keys)].arrays()  # what the workers handed over is what the dataset makes
        np.testing.assert_array_equal(data, want_data)
        np.testing.assert_array_equal(label, want_label)
        for img, lab, key in zip(data.transpose(0, 2, 3, 1), label, keys):
            pts = L.get(lab, "points").reshape(-1, 2)
            flipped = L.get(lab, "euler")[1] < 0
            flips += flipped
            for i, (x, y) in enumerate(pts):
                dot = COURSE21.flip_perm[i] if flipped else i
                assert np.array_equal(colours[_nearest_colour(img[int(y), int(x)], colours)], colours[dot]), (key, i)
            # the affine still takes the points back to the record's own
            record = L.get(ds.reader.read(key % len(ds), decode=False)[1], "points").reshape(-1, 2)
            back = geometry.apply_affine(L.get(lab, "affine").reshape(2, 3), pts)
            np.testing.assert_allclose(back, record[list(COURSE21.flip_perm)] if flipped else record, atol=1e-3)
    assert 0 < flips < 12


def test_a_samples_draws_depend_only_on_the_seed_its_pass_and_its_index():
    u = sample_uniforms((7, 0), [0, 0, 1, 0], [3, 4, 3, 3], 12)
    np.testing.assert_array_equal(u[0], u[3])  # the same sample, wherever it sits in a batch
    assert not np.allclose(u[0], u[1]) and not np.allclose(u[0], u[2])  # another sample, another pass
    assert not np.allclose(u[0], sample_uniforms((8, 0), [0], [3], 12)[0])  # another seed
    many = sample_uniforms((7, 0), np.zeros(20000, int), np.arange(20000), 12)
    assert many.min() >= 0 and many.max() < 1
    np.testing.assert_allclose(many.mean(0), 0.5, atol=0.01)
    np.testing.assert_allclose(np.histogram(many[:, 0], bins=10, range=(0, 1))[0] / 20000, 0.1, atol=0.01)
    assert np.abs(np.corrcoef(many.T) - np.eye(12)).max() < 0.03


def test_colour_jitter_shifts_brightness_and_blends_towards_grey_as_drawn():
    rng = np.random.default_rng(0)
    img = rng.integers(40, 200, (16, 16, 3)).astype(np.uint8)
    grey = img.astype(float) @ [0.114, 0.587, 0.299]  # BGR luma
    strength = 0.5
    # draws: contrast 1 (u=0.5), brightness +0.8 * 0.5 * 60 = +24 (u=0.9), saturation 1 (u=0.5), no grey
    out = jitter_colour_drawn(img, [0.5, 0.9, 0.5, 0.99], strength, 0.1)
    np.testing.assert_allclose(out, np.clip(img + 24.0, 0, 255), atol=1)
    # saturation 0.5 (u=0): halfway to grey
    out = jitter_colour_drawn(img, [0.5, 0.5, 0.0, 0.99], strength, 0.1)
    np.testing.assert_allclose(out, 0.5 * img + 0.5 * grey[:, :, None], atol=1.01)
    # contrast 1.5 (u=1) about the grey mean
    out = jitter_colour_drawn(img, [1.0, 0.5, 0.5, 0.99], strength, 0.1)
    np.testing.assert_allclose(out, np.clip(1.5 * img.astype(float) - 0.5 * grey.mean(), 0, 255), atol=1.01)
    # grey drawn: every channel the grey image
    out = jitter_colour_drawn(img, [0.5, 0.5, 0.5, 0.05], strength, 0.1)
    np.testing.assert_allclose(out, np.repeat(grey[:, :, None], 3, 2), atol=1.01)
