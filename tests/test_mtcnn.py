"""MTCNN in MXNet with the weights of the mtcnn wheel: the networks compute what the weights were trained as
(Keras' layout, checked against a NumPy forward pass), and the cascade finds faces."""
import os

import numpy as np
import pytest

from recordio import geometry


def _keras_forward(arrays, x, convs, dense, heads):
    """Keras' computation in NumPy, channels last: ``convs`` [(pool kernel, stride, same) or None per conv],
    ``dense`` the number of dense layers with PReLU, then ``heads`` output widths (the last one softmax)."""
    a = list(arrays)
    for pool in convs:
        k, b, alpha = a.pop(0), a.pop(0), a.pop(0)
        win = np.lib.stride_tricks.sliding_window_view(x, k.shape[:2], axis=(0, 1))  # (H', W', C, kh, kw)
        x = np.einsum("ijcab,abco->ijo", win, k) + b
        x = np.where(x > 0, x, alpha.reshape(-1) * x)
        if pool:
            size, stride, same = pool
            n = np.array(x.shape[:2])
            out = -(-n // stride) if same else (n - size) // stride + 1
            pad = np.maximum((out - 1) * stride + size - n, 0)
            x = np.pad(x, ((pad[0] // 2, pad[0] - pad[0] // 2), (pad[1] // 2, pad[1] - pad[1] // 2), (0, 0)),
                       constant_values=-np.inf)
            x = np.stack([np.stack([x[i * stride:i * stride + size, j * stride:j * stride + size].max((0, 1))
                                    for j in range(out[1])]) for i in range(out[0])])
    if dense:
        x = x.transpose(1, 0, 2).reshape(-1)  # Keras: Permute((2, 1, 3)) then Flatten
        for _ in range(dense):
            k, b, alpha = a.pop(0), a.pop(0), a.pop(0)
            x = x @ k + b
            x = np.where(x > 0, x, alpha * x)
    outs = []
    for _ in heads:
        k, b = a.pop(0), a.pop(0)
        outs.append((x @ k.reshape(k.shape[-2], k.shape[-1])) + b)
    e = np.exp(outs[-1] - outs[-1].max(-1, keepdims=True))
    return outs[0], e / e.sum(-1, keepdims=True)


@pytest.mark.parametrize("name,shape,convs,dense", [
    ("pnet", (15, 19), [(2, 2, True), None, None], 0),
    ("rnet", (24, 24), [(3, 2, True), (3, 2, False), None], 1),
    ("onet", (48, 48), [(3, 2, True), (3, 2, False), (2, 2, True), None], 1)])
def test_mtcnn_networks_compute_what_keras_computes_with_the_wheels_weights(name, shape, convs, dense):
    import mxnet as mx
    from deploy.mtcnn import _load, _nets, _weights
    arrays = _weights(name)
    net = _load(_nets()[("pnet", "rnet", "onet").index(name)], arrays, shape[0])
    x = np.random.default_rng(0).uniform(-1, 1, shape + (3,)).astype(np.float32)  # not square: no transposition
    reg, prob = (o.asnumpy()[0] for o in net(mx.nd.array(x.transpose(2, 0, 1)[None]))[:2])
    want_reg, want_prob = _keras_forward(arrays, x.astype(np.float64), convs, dense, (4, 10, 2) if name == "onet"
                                         else (4, 2))
    if name == "pnet":  # fully convolutional: maps (C, H', W') against (H', W', C)
        reg, prob = reg.transpose(1, 2, 0), prob.transpose(1, 2, 0)
    np.testing.assert_allclose(reg, want_reg, atol=2e-4)
    np.testing.assert_allclose(prob, want_prob, atol=2e-5)


def test_mtcnn_finds_the_rendered_sample_faces_and_nothing_on_a_blank_photo():
    from deploy.detect import make_detector
    from recordio import imagefile
    from tests.test_analyze import _frontal_photo
    det = make_detector("mtcnn", box_map=(0.0, 0.0, 1.0, 1.0))
    img, face = _frontal_photo()
    found = det.detect(img)
    assert len(found) == 1 and found.scores[0] > 0.9
    assert geometry.box_iou(geometry.points_box(face.points), found.boxes)[0, 0] > 0.5
    assert len(det.detect(np.full((240, 320, 3), 128, np.uint8))) == 0
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sample = imagefile.read(os.path.join(root, "deploy", "samples", "faces_1.jpg"))
    assert len(det.detect(sample)) == 3


def test_photos_of_many_sizes_do_not_grow_memory_without_bound():
    """Each new photo size gave MXNet's MKL-DNN primitive cache new entries for every pyramid scale, kept for
    good (about 100 MB per size: a folder of 200 photos ran out of 23 GB).  Importing recordio bounds the cache."""
    from deploy.mtcnn import MTCNNDetector

    def rss_mb():
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) // 1024 for line in f if line.startswith("VmRSS"))

    assert os.environ.get("MXNET_MKLDNN_CACHE_NUM")
    det = MTCNNDetector()
    rng = np.random.default_rng(0)
    sizes = [(300 + 7 * k, 400 + 11 * k) for k in range(36)]
    for k, (h, w) in enumerate(sizes):
        det.raw(rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
        if k == 11:
            warm = rss_mb()
    assert rss_mb() - warm < 600  # 24 more sizes: about 2.4 GB more without the bound


def _sample_rgb():
    import cv2

    from recordio import imagefile
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return cv2.cvtColor(imagefile.read(os.path.join(root, "deploy", "samples", "faces_1.jpg")), cv2.COLOR_BGR2RGB)


def test_mtcnn_on_onnx_runtime_finds_what_it_finds_on_mxnet():
    """The three networks converted in memory (the PReLU slopes of P-Net's convolutions repaired: as the
    converter writes them ONNX Runtime cannot even run them) answer as MXNet does, P-Net at any input size."""
    import mxnet as mx
    from deploy.mtcnn import MTCNNDetector
    ref, ort = MTCNNDetector(backend="mxnet"), MTCNNDetector(backend="onnxruntime")
    assert set(ort.backends.values()) == {"onnxruntime"} and set(ref.backends.values()) == {"mxnet"}
    x = np.random.default_rng(3).uniform(-1, 1, (1, 3, 37, 53)).astype(np.float32)  # odd, not square
    want = [o.asnumpy() for o in ref.pnet(mx.nd.array(x))]
    for got, w in zip(ort._calls["pnet"](x), want):
        np.testing.assert_allclose(got, w, atol=1e-4)
    rgb = _sample_rgb()
    a, b = ref.raw(rgb[:, :, ::-1].copy()), ort.raw(rgb[:, :, ::-1].copy())
    assert len(a[0]) == len(b[0]) == 3
    np.testing.assert_allclose(np.sort(a[1]), np.sort(b[1]), atol=1e-3)
    assert np.diag(geometry.box_iou(a[0][np.argsort(a[1])], b[0][np.argsort(b[1])])).min() > 0.98


def test_mtcnn_auto_runs_each_network_on_the_backend_that_ran_it_faster():
    from deploy.detect import make_detector, network_backends
    det = make_detector("mtcnn@30")
    found = network_backends(det)
    assert sorted(found) == ["mtcnn onet", "mtcnn pnet", "mtcnn rnet"]
    for net, info in found.items():
        times = info["timings_ms"]
        assert set(times) == {"mxnet", "onnxruntime"} and all(t > 0 for t in times.values())
        assert info["backend"] == min(times, key=times.get)


def test_the_pyramid_levels_are_within_two_grey_levels_of_resizing_the_photo():
    import cv2
    from deploy.mtcnn import MTCNNDetector
    det = MTCNNDetector(backend="mxnet")
    rgb = cv2.resize(_sample_rgb(), None, fx=1.5, fy=1.5)
    levels = det.pyramid(rgb)
    assert len(levels) > 8 and levels[0][0] == 12.0 / det.min_face
    for scale, level in levels:
        direct = cv2.resize(rgb, level.shape[1::-1], interpolation=cv2.INTER_AREA)
        assert np.abs(level.astype(float) - direct).mean() < 2.0, scale
        assert level.shape[:2] == (int(np.ceil(rgb.shape[0] * scale)), int(np.ceil(rgb.shape[1] * scale)))


def test_turned_passes_on_threads_find_what_they_find_one_after_another(monkeypatch):
    from deploy.detect import make_detector
    from deploy.mtcnn import MTCNNDetector
    det = make_detector("mtcnn@30", backend="onnxruntime")
    img = _sample_rgb()[:, :, ::-1].copy()
    img = np.concatenate([img, np.rot90(img, 1)[:img.shape[0], :img.shape[1]]], 1)  # some faces lie on their side
    assert det.base.thread_safe
    threaded = det.detect(img)
    monkeypatch.setattr(MTCNNDetector, "thread_safe", property(lambda self: False))
    one_by_one = det.detect(img)
    assert len(threaded) >= 3
    np.testing.assert_array_equal(threaded.boxes, one_by_one.boxes)
    np.testing.assert_array_equal(threaded.scores, one_by_one.scores)


def test_turned_passes_look_through_a_coarser_pyramid_with_the_same_networks():
    from deploy.detect import make_detector
    from deploy.mtcnn import SCALE_STEP, TURNED_SCALE_STEP
    det = make_detector("mtcnn@30", backend="mxnet")
    assert det.base.scale_step == SCALE_STEP and det.turned_base.scale_step == TURNED_SCALE_STEP < SCALE_STEP
    assert det.turned_base.pnet is det.base.pnet and det.turned_base._calls is det.base._calls
    rgb = _sample_rgb()
    upright, turned = det.base.pyramid(rgb), det.turned_base.pyramid(rgb)
    assert upright[0][0] == turned[0][0] and len(turned) < 0.7 * len(upright)  # from the same smallest face
