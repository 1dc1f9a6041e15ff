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
