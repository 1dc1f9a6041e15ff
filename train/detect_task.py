"""The face-detection task for the shared loop: gluoncv's SSD on detection archives in gluoncv's format.

Training samples go through gluoncv's SSD train transform (colour distortion, random expansion, random
crop with IoU constraints, resize, flip; the anchors' targets computed in the loader workers), seeded from
the sample's own stream like every augmentation here; the label the loop sees is the targets, class then
box, flattened.  Validation keeps each photo's boxes (padded to ``MAX_FACES`` rows with -1) and scores
average precision at IoU 0.5, recall at the score threshold and false detections per photo.
"""
import random

import numpy as np

from recordio import metrics
from recordio.schema import read_meta
from train.task import Task

MAX_FACES = 64  # validation labels are padded to this many rows (the course photos hold at most 44 faces)
SCORE_THRESHOLD = 0.5  # the recall and false detections reported at this score


def add_args(ap):
    g = ap.add_argument_group("detection")
    g.add_argument("--model", default="face_ssd", help="face_ssd")
    g.add_argument("--input_size", type=int, default=416, help="side of the square input the photos are resized to")
    g.add_argument("--min_size", type=float, default=13.0, help="anchor side of the finest layer at that input, px")
    return ap


class DetectionTask(Task):
    name = "detection"
    metric = "ap50"
    lower_is_better = False
    network_args = ("model", "input_size", "min_size")

    def __init__(self, args):
        self.args = args
        meta = read_meta(args.train or args.val)
        if meta["task"] != "detection":
            raise SystemExit("error: %s is a %s archive, not detection" % (meta["_path"], meta["task"]))
        self.layout = meta["_layout"]
        self.meta = meta
        self.size = args.input_size
        self.input_shape = (3, self.size, self.size)
        self._anchors = None
        self._decoder = None

    def network(self, args):
        from symbols import get_model
        return get_model(args.model, input_size=args.input_size, min_size=args.min_size)

    def anchors(self):
        """The network's anchors (1, A, 4) in input px (a forward pass in training mode, once)."""
        if self._anchors is None:
            import mxnet as mx
            from mxnet import autograd
            net = self.network(self.args)
            net.initialize()
            with autograd.train_mode():
                _, _, anchors = net(mx.nd.zeros((1,) + self.input_shape))
            self._anchors = anchors
        return self._anchors

    def transform(self, train):
        return DetectionTransform(self.layout, self.size, self.anchors() if train else None)

    def loss(self, outputs, label):
        from gluoncv.loss import SSDMultiBoxLoss
        cls_pred, box_pred = outputs[0], outputs[1]
        n_anchors = cls_pred.shape[1]
        cls_t = label.slice_axis(axis=1, begin=0, end=n_anchors)
        box_t = label.slice_axis(axis=1, begin=n_anchors, end=5 * n_anchors).reshape((0, n_anchors, 4))
        _, cls_loss, box_loss = SSDMultiBoxLoss()([cls_pred], [box_pred], [cls_t], [box_t])
        return {"class": cls_loss[0], "box": box_loss[0]}

    def evaluate(self, outputs, labels):
        import mxnet as mx
        from symbols.detect import SSDDecoder
        if self._decoder is None:
            self._decoder = SSDDecoder(len(self.meta.get("classes", ["face"])))
        cls_preds, box_preds, anchors = outputs
        ids, scores, boxes = [o.asnumpy() for o in self._decoder(mx.nd.array(cls_preds), mx.nd.array(box_preds),
                                                                   mx.nd.array(anchors[:1]))]
        preds, truths = [], []
        for i in range(len(labels)):
            face = (ids[i, :, 0] >= 0) & (scores[i, :, 0] > 0)
            preds.append((boxes[i][face], scores[i, :, 0][face]))
            rows = labels[i][labels[i][:, 4] >= 0]
            truths.append(rows[:, :4])
        return metrics.detection_report(preds, truths, SCORE_THRESHOLD)

    def export_meta(self, args, net):
        return {"task": "detection", "model": args.model, "classes": self.meta.get("classes", ["face"]),
                "input": {"name": "data", "shape": [1] + list(self.input_shape), "color": "bgr",
                          "value_range": [0, 255], "layout": "NCHW", "resize": "the whole photo, stretched"},
                "outputs": [{"name": "ids", "shape": [100, 1], "unit": "class index, -1 for none"},
                            {"name": "scores", "shape": [100, 1], "unit": "score in [0, 1]"},
                            {"name": "boxes", "shape": [100, 4], "unit": "x1, y1, x2, y2 in input px"}],
                "box_convention": self.meta.get("box_convention")}


class DetectionTransform:
    """A detection record (BGR photo, gluoncv label) to the network's input and targets (train) or its
    input and padded boxes in input px (validation).  Returns (3 x S x S uint8 BGR, label)."""

    def __init__(self, layout, size, anchors=None):
        self.layout, self.size, self.anchors = layout, size, anchors
        self._train = None

    def _gluoncv(self):
        if self._train is None:
            from gluoncv.data.transforms.presets.ssd import SSDDefaultTrainTransform
            # mean 0 and std 1/255 leave raw pixels: the network normalises them itself
            self._train = SSDDefaultTrainTransform(self.size, self.size, self.anchors, mean=(0.0, 0.0, 0.0),
                                                   std=(1 / 255.0,) * 3)
        return self._train

    def __call__(self, image, label, rng=None):
        import cv2
        import mxnet as mx
        h, w = image.shape[:2]
        rows = self.layout.get(label, "faces")
        boxes = np.concatenate([rows[:, 1:5] * [w, h, w, h], rows[:, :1]], 1).astype(np.float32)  # x1 y1 x2 y2 id
        if self.anchors is None:
            img = cv2.resize(image, (self.size, self.size), interpolation=cv2.INTER_LINEAR)
            out = np.full((MAX_FACES, 5), -1.0, np.float32)
            scaled = boxes[:MAX_FACES].copy()
            scaled[:, :4] *= [self.size / w, self.size / h] * 2
            out[:len(scaled)] = scaled
            return np.ascontiguousarray(img.transpose(2, 0, 1)), out
        if rng is not None:  # gluoncv draws from the global generators: seed them from this sample's stream
            seed = int(rng.integers(2 ** 31))
            np.random.seed(seed)
            random.seed(seed)
        img, cls_t, box_t = self._gluoncv()(mx.nd.array(image[:, :, ::-1]), boxes)  # it takes RGB
        data = np.clip(np.round(img.asnumpy()[::-1]), 0, 255).astype(np.uint8)  # back to BGR pixels
        return data, np.concatenate([cls_t.asnumpy().ravel(), box_t.asnumpy().ravel()]).astype(np.float32)
