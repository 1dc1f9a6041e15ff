"""MTCNN (Zhang et al., "Joint Face Detection and Alignment using Multi-task Cascaded Convolutional Networks",
IEEE SPL 2016) in MXNet Gluon, with the trained weights that ship inside the ``mtcnn`` wheel (pinned in
requirements.txt; its own code needs TensorFlow, which is not installed: only its weight files are read,
with joblib and lz4).  Nothing is downloaded.

Three networks in a cascade: P-Net slides a 12 px window over a pyramid of the photo (each level
``SCALE_STEP`` of the one before, down from the scale that makes ``min_face`` px faces 12 px) and proposes
boxes; R-Net (24 px crops) and O-Net (48 px crops) re-score and refine them.  Each stage keeps the boxes
above its threshold, applies its box regression and merges overlaps by NMS.  Input pixels RGB, (x - 127.5) /
128; the weights' layout is TensorFlow's (kernels HWIO, dense layers reading features in width, height,
channel order), converted here when they are loaded.

Each network runs on MXNet or on ONNX Runtime (``backend``; default ``auto``: each network on whichever ran it
faster when the detector was built, timed side by side).  The ONNX models are converted in memory from the
MXNet networks (``recordio.onnxconv``) and must match them (``PARITY``) before they are used; MXNet is the
reference.  P-Net sees a new input shape at every pyramid level of every photo size, which costs MXNet a new
plan each time and ONNX Runtime little.
"""
import math
import os
import time

import cv2
import numpy as np

from deploy.detector_base import Detector, nms
from recordio.geometry import square_box

THRESHOLDS = (0.6, 0.7, 0.7)  # P-Net, R-Net, O-Net face probability, as the paper's released detector uses
RETRY = 0.3  # O-Net boxes scored from this up to its threshold are looked at again where O-Net moved them
SCALE_STEP = 0.85  # pyramid step; the paper's 0.709 (area halves every two levels) leaves faces between levels
# that P-Net frames badly: on 300 training + 100 validation course photos 0.709 / 0.8 / 0.85 / 0.9 found
# 93.4 / 94.4 / 94.8 / 94.1% of the faces at 333 / 383 / 399 / 491 ms per photo
TURNED_SCALE_STEP = 0.709  # the pyramid step on turned photos (the paper's): on 700 training and 100 validation
# course photos mtcnn@30 found 96.8 / 95.3% (after the second look and the filter 96.3 / 93.5%, false 0.051 / 0.070
# per photo) against 96.8 / 95.9% (96.4 / 93.5%, 0.061 / 0.050) at 0.85 everywhere, in 35% less time
PYRAMID_SOURCE = 4  # a pyramid level is resized from an earlier one at least this many times its size
BACKENDS = ("mxnet", "onnxruntime", "auto")
PARITY = 1e-4  # largest output difference from MXNet's, relative to the output's scale, an ONNX network may have
TIMING_INPUTS = {"pnet": (1, 3, 150, 200), "rnet": (64, 3, 24, 24), "onet": (16, 3, 48, 48)}  # backend race inputs
NMS_IOU = (0.5, 0.7, 0.7, 0.7)  # P-Net within a level, P-Net across levels, R-Net, O-Net (O-Net: IoU over the min)


def _weights(name):
    """The list of arrays the mtcnn wheel stores for ``name`` (pnet, rnet, onet), in Keras' order."""
    import importlib.metadata
    try:
        import joblib
        import lz4  # noqa: F401  (joblib reads the .lz4 files with it)
        dist = importlib.metadata.distribution("mtcnn")  # located, not imported: its code imports TensorFlow
    except (ImportError, importlib.metadata.PackageNotFoundError) as e:
        raise ImportError("the mtcnn detector reads its weights from the mtcnn wheel with joblib and lz4: "
                          "pip install -r requirements.txt -c constraints.txt (%s)" % e) from e
    path = dist.locate_file("mtcnn/assets/weights/%s.lz4" % name)
    if not path.is_file():
        raise FileNotFoundError("%s is not in the installed mtcnn wheel (pinned: mtcnn==1.0.0)" % path)
    with path.open("rb") as f:
        return joblib.load(f)


def _nets():
    from mxnet import gluon
    from mxnet.gluon import nn

    class Net(gluon.HybridBlock):
        """Convolutions with PReLU and max pooling, then either 1x1 heads (P-Net, fully convolutional) or
        dense layers (R-Net, O-Net); outputs (box regression, face probability[, O-Net's 5 points])."""

        def __init__(self, convs, dense, heads, **kw):
            super().__init__(**kw)
            self.dense_input = bool(dense)
            with self.name_scope():
                self.body = nn.HybridSequential()
                for channels, kernel, pool in convs:
                    self.body.add(nn.Conv2D(channels, kernel), nn.PReLU(in_channels=channels))
                    if pool:  # TensorFlow's "same" pooling pads at the end: ceil_mode
                        k, s, same = pool
                        self.body.add(nn.MaxPool2D(k, s, ceil_mode=same))
                self.fc = nn.HybridSequential()
                for units in dense:
                    self.fc.add(nn.Dense(units), nn.PReLU(in_channels=units))
                self.heads = nn.HybridSequential()
                for units in heads:
                    self.heads.add(nn.Dense(units, flatten=False) if dense else nn.Conv2D(units, 1))

        def hybrid_forward(self, F, x):
            x = self.body(x)
            if self.dense_input:  # Keras flattens (width, height, channels)
                x = self.fc(F.flatten(F.transpose(x, (0, 3, 2, 1))))
            outs = [h(x) for h in self.heads]  # box regression, [O-Net: 5 points,] face/non-face
            return (outs[0], F.softmax(outs[-1], axis=1)) + tuple(outs[1:-1])

    pnet = Net([(10, 3, (2, 2, True)), (16, 3, None), (32, 3, None)], [], [4, 2])
    rnet = Net([(28, 3, (3, 2, True)), (48, 3, (3, 2, False)), (64, 2, None)], [128], [4, 2])
    onet = Net([(32, 3, (3, 2, True)), (64, 3, (3, 2, False)), (64, 3, (2, 2, True)), (128, 2, None)], [256],
               [4, 10, 2])
    return pnet, rnet, onet


def _load(net, arrays, size):
    """Keras arrays (kernels HWIO, PReLU alphas (1, 1, C) or (C,), dense (in, out)) into ``net`` (its
    parameters in the same order: each layer's kernel, bias, then its PReLU's alpha), checked shape by shape."""
    import mxnet as mx
    net.initialize(mx.init.Zero())
    net(mx.nd.zeros((1, 3, size, size)))  # settles the dense layers' input widths
    params = list(net.collect_params().values())
    if len(params) != len(arrays):
        raise ValueError("mtcnn weights: %d arrays for %d parameters" % (len(arrays), len(params)))
    for p, a in zip(params, arrays):
        a = np.asarray(a, np.float32)
        a = {4: lambda: a.transpose(3, 2, 0, 1), 3: lambda: a.reshape(-1), 2: lambda: a.T}.get(a.ndim, lambda: a)()
        if tuple(p.shape) != a.shape:
            raise ValueError("mtcnn weights: %s is %s, the wheel's array %s" % (p.name, p.shape, a.shape))
        p.set_data(mx.nd.array(a))
    net.hybridize(static_alloc=True)
    return net


def regress(boxes, reg):
    """Boxes (N, 4) moved by the networks' regression (N, 4): offsets of each corner in box widths/heights."""
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    return boxes + reg * np.stack([w, h, w, h], 1)


def crops(image, boxes, size):
    """(N, 3, size, size) float crops of ``boxes`` (outside the photo: black), normalised for the networks."""
    h, w = image.shape[:2]
    out = np.zeros((len(boxes), 3, size, size), np.float32)
    for k, b in enumerate(np.round(boxes).astype(int)):
        x1, y1, x2, y2 = b
        if x2 <= x1 or y2 <= y1:
            continue
        patch = np.zeros((y2 - y1, x2 - x1, 3), np.uint8)
        sx1, sy1, sx2, sy2 = max(x1, 0), max(y1, 0), min(x2, w), min(y2, h)
        if sx2 > sx1 and sy2 > sy1:
            patch[sy1 - y1:sy2 - y1, sx1 - x1:sx2 - x1] = image[sy1:sy2, sx1:sx2]
        out[k] = cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA).transpose(2, 0, 1)
    return (out - 127.5) / 128.0


def onnx_session(net, name):
    """An ONNX Runtime session of the MXNet network ``net`` called ``name`` ("pnet": any height and width;
    "rnet", "onet": any batch), converted in memory; raises RuntimeError where its outputs differ from MXNet's
    by more than ``PARITY``."""
    import tempfile

    import mxnet as mx
    import onnxruntime as ort
    from mxnet.onnx.mx2onnx._export_model import load_module

    from recordio.onnxconv import relative_difference, to_onnx
    shape = TIMING_INPUTS[name]
    x = np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32)
    want = [o.asnumpy() for o in net(mx.nd.array(x))]
    with tempfile.TemporaryDirectory() as tmp:
        net.export(os.path.join(tmp, name))
        sym, params = load_module(os.path.join(tmp, name + "-symbol.json"), os.path.join(tmp, name + "-0000.params"))
    dynamic = (None, 3, None, None) if name == "pnet" else (None,) + shape[1:]
    model = to_onnx(sym, params, (1,) + shape[1:], dynamic)
    options = ort.SessionOptions()
    options.log_severity_level = 4  # failures raise; nothing printed
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # no core spun between calls
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x})
    worst = max(relative_difference(g, w) for g, w in zip(got, want))
    if len(got) != len(want) or worst > PARITY:
        raise RuntimeError("MTCNN %s on ONNX Runtime differs from MXNet by %.2g of the output's scale (at most %g)"
                           % (name, worst, PARITY))
    return session


class MTCNNDetector(Detector):
    """MTCNN's cascade (module docstring) on the photo; scores are O-Net's face probabilities.  ``min_face``:
    the smallest face looked for, px (smaller is slower: the pyramid starts larger).  ``backend``: ``BACKENDS``;
    after building, ``backends`` says which ran each network and ``timings`` the race of ``auto`` (ms per call
    on ``TIMING_INPUTS``, or why a backend could not run)."""

    name = "mtcnn"

    def __init__(self, box_map=None, min_face=16, thresholds=THRESHOLDS, batch=256, retry=RETRY,
                 scale_step=SCALE_STEP, backend="auto"):
        import mxnet as mx
        super().__init__(box_map)
        if backend not in BACKENDS:
            raise ValueError("unknown MTCNN backend %r; valid: %s" % (backend, ", ".join(BACKENDS)))
        self.retry, self.scale_step = retry, scale_step
        self.min_face, self.thresholds, self.batch = float(min_face), tuple(thresholds), batch
        self.min_score = self.thresholds[2]
        self.mx = mx
        self.pnet, self.rnet, self.onet = (_load(n, _weights(k), size) for n, k, size in
                                           zip(_nets(), ("pnet", "rnet", "onet"), (12, 24, 48)))
        self.backends, self.timings, self._calls = {}, {}, {}
        for name, net in (("pnet", self.pnet), ("rnet", self.rnet), ("onet", self.onet)):
            self._choose(name, net, backend)

    def _choose(self, name, net, backend):
        """Set ``_calls[name]`` (numpy batch -> [box regression, probabilities, ...]) on ``backend``; ``auto``:
        the faster of the two that run here, timed on ``TIMING_INPUTS``."""
        mx = self.mx
        runners = {"mxnet": lambda x: [o.asnumpy() for o in net(mx.nd.array(x))]}
        if backend in ("onnxruntime", "auto"):
            try:
                session = onnx_session(net, name)
                feed = session.get_inputs()[0].name
                runners["onnxruntime"] = lambda x: session.run(None, {feed: np.ascontiguousarray(x, np.float32)})
            except Exception as e:  # noqa: BLE001  (a converter or runtime failure of any kind leaves MXNet)
                if backend == "onnxruntime":
                    raise
                self.timings.setdefault(name, {})["onnxruntime"] = "unavailable: %s" % str(e).splitlines()[0][:120]
        if backend != "auto":
            self.backends[name], self._calls[name] = backend, runners[backend]
            return
        x = np.random.default_rng(1).uniform(-1, 1, TIMING_INPUTS[name]).astype(np.float32)
        for key, run in runners.items():
            run(x)
            start = time.perf_counter()
            for _ in range(5):
                run(x)
            self.timings.setdefault(name, {})[key] = round(1000 * (time.perf_counter() - start) / 5, 3)
        fastest = min((k for k in runners), key=lambda k: self.timings[name][k])
        self.backends[name], self._calls[name] = fastest, runners[fastest]

    def for_turned(self):
        """The detector for a turned photo (``deploy.detect.TurnedDetector``): these networks on a pyramid of
        ``TURNED_SCALE_STEP`` (the turned passes look for the rolled faces the upright pass misses, on canvases
        up to twice the photo)."""
        import copy
        turned = copy.copy(self)
        turned.scale_step = TURNED_SCALE_STEP
        return turned

    @property
    def thread_safe(self):
        """Several threads may detect at once: every network runs on ONNX Runtime (MXNet's cached graphs may not
        be called from two threads)."""
        return set(self.backends.values()) == {"onnxruntime"}

    def _run(self, name, x):
        outs = [[], []]
        for i in range(0, len(x), self.batch):
            for k, o in enumerate(self._calls[name](x[i:i + self.batch])[:2]):
                outs[k].append(o)
        return [np.concatenate(o) for o in outs]

    def pyramid(self, rgb):
        """P-Net's inputs: (scale, level image) from the scale that makes ``min_face`` px faces 12 px, each
        ``scale_step`` of the one before, down to 12 px.  Each level is the area-average of the smallest
        earlier level at least ``PYRAMID_SOURCE`` times its size (else of the photo): a third of the work of
        resizing the photo every time, each level within 1.3 grey levels of that on average (the worst level
        of 20 test photos)."""
        h, w = rgb.shape[:2]
        scale = 12.0 / self.min_face
        made = []
        while min(h, w) * scale >= 12:
            sh, sw = int(math.ceil(h * scale)), int(math.ceil(w * scale))
            source = next((level for _, level in reversed(made) if level.shape[0] >= PYRAMID_SOURCE * sh and
                           level.shape[1] >= PYRAMID_SOURCE * sw), rgb)
            made.append((scale, cv2.resize(source, (sw, sh), interpolation=cv2.INTER_AREA)))
            scale *= self.scale_step
        return made

    def proposals(self, rgb):
        """P-Net over the pyramid: (boxes (N, 4) after regression, made square; scores (N,))."""
        found_boxes, found_scores = [], []
        for scale, level in self.pyramid(rgb):
            x = (level.astype(np.float32) - 127.5) / 128.0
            reg, prob = (o[0] for o in self._calls["pnet"](x.transpose(2, 0, 1)[None])[:2])
            ys, xs = np.nonzero(prob[1] > self.thresholds[0])
            if len(ys):
                window = np.stack([xs * 2, ys * 2, xs * 2 + 12, ys * 2 + 12], 1) / scale
                score = prob[1, ys, xs]
                boxes = regress(window, reg[:, ys, xs].T)
                keep = nms(window, score, NMS_IOU[0])
                found_boxes.append(boxes[keep])
                found_scores.append(score[keep])
        if not found_boxes:
            return np.zeros((0, 4)), np.zeros(0)
        boxes, scores = np.concatenate(found_boxes), np.concatenate(found_scores)
        keep = nms(boxes, scores, NMS_IOU[1])
        return square_box(boxes[keep]), scores[keep]

    def refine(self, net, rgb, boxes, size, threshold):
        """Re-score ``boxes`` with R-Net or O-Net ("rnet", "onet"); those above ``threshold``, regressed, with
        their scores."""
        if not len(boxes):
            return boxes, np.zeros(0)
        reg, prob = self._run(net, crops(rgb, boxes, size))
        keep = prob[:, 1] > threshold
        return regress(boxes[keep], reg[keep]), prob[keep, 1]

    def raw(self, image):
        rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB) if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
        boxes, _ = self.proposals(rgb)
        boxes, scores = self.refine("rnet", rgb, boxes, 24, self.thresholds[1])
        if len(boxes):
            keep = nms(boxes, scores, NMS_IOU[2])
            boxes = square_box(boxes[keep])
        first = self.thresholds[2] if self.retry is None else self.retry
        boxes, scores = self.refine("onet", rgb, boxes, 48, first)
        again = scores < self.thresholds[2]  # a face O-Net half saw in a box P-Net placed badly (``retry``)
        if again.any():
            moved, rescored = self.refine("onet", rgb, square_box(boxes[again]), 48, self.thresholds[2])
            boxes = np.concatenate([boxes[~again], moved])
            scores = np.concatenate([scores[~again], rescored])
        if len(boxes):
            keep = nms(boxes, scores, NMS_IOU[3], over="min")
            boxes, scores = boxes[keep], scores[keep]
        return boxes.reshape(-1, 4), scores
