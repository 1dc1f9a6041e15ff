"""What every face detector shares: ``Detections``, the ``Detector`` base class, non-maximum suppression and
the box maps (``deploy/detectors/boxmaps.json``) that turn a detector's boxes into the annotators' convention.

The backends (``deploy/detect.py``'s own, ``deploy/mtcnn.py``, ``deploy/mxdetect.py``) import this module; the
registry (``deploy.detect.make_detector``) imports the backends, so nothing imports itself through another.
"""
import json
import os

import numpy as np

from recordio import geometry

BOXMAPS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "detectors", "boxmaps.json")
NMS_IOU = 0.4  # boxes of one face found by several cascades or sub-detectors overlap at least this much
UNION_IOU = 0.3  # a face one backend of a union found, another backend's box overlapping it this much is that face
POINTS_MAP = "points:%s"  # boxmaps.json's key of a schema's map from its points' tight box to the annotated box


class Detections:
    """The faces found in one photo: ``boxes`` (N, 4) in the annotators' convention (the box map applied),
    ``raw`` (N, 4) as the detector gave them, ``scores`` (N,) (higher is surer; each backend its own scale).
    ``boxes``: the annotators' boxes when already made (several backends' faces, each with its own map)."""

    def __init__(self, raw, scores, box_map=None, boxes=None):
        self.raw = np.asarray(raw, dtype=np.float64).reshape(-1, 4)
        self.scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        if boxes is not None:
            self.boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        else:
            self.boxes = geometry.map_box(self.raw, box_map) if box_map is not None and len(self.raw) else self.raw

    def __len__(self):
        return len(self.scores)

    def keep(self, mask):
        return Detections(self.raw[mask], self.scores[mask], boxes=self.boxes[mask])


def nms(boxes, scores, iou=NMS_IOU, over="union"):
    """Indices of the boxes kept by greedy non-maximum suppression (highest score first); ``over``: the
    overlap measure of ``geometry.box_iou`` ("min": a box inside a kept larger one goes too).  Over the union
    OpenCV's ``NMSBoxes`` does the same greedy pass (it suppresses above its threshold, in float32, so it is
    given ``iou - 1e-6``: a box overlapping a kept one by ``iou`` or more goes, as here)."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if over == "union" and len(b) > 1:
        import cv2
        s = np.asarray(scores, np.float64)
        kept = cv2.dnn.NMSBoxes(np.hstack([b[:, :2], b[:, 2:] - b[:, :2]]).tolist(), (s - s.min() + 1.0).tolist(),
                                0.0, iou - 1e-6)  # scores shifted above its threshold of 0; float32 IoU
        return np.asarray(kept, dtype=int).reshape(-1)
    order = np.argsort(-np.asarray(scores))
    x1, y1, x2, y2 = b.T
    area = (x2 - x1) * (y2 - y1)
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        if not rest.size:
            break
        inter = (np.maximum(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0.0)
                 * np.maximum(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0.0))
        denom = np.minimum(area[i], area[rest]) if over == "min" else area[i] + area[rest] - inter
        order = rest[inter / np.maximum(denom, 1e-12) < iou]
    return np.array(keep, dtype=int)


def load_box_maps(path=None):
    """{backend: box map record} as ``tools/fit_boxmap.py`` wrote them (default file ``BOXMAPS``; {} when there
    is none)."""
    path = path or BOXMAPS
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def points_map(schema, path=None):
    """The box map from ``schema``'s points (their tight box) to the annotators' box, or None if none was fitted
    (``tools/fit_boxmap.py points``)."""
    return load_box_maps(path).get(POINTS_MAP % schema, {}).get("map")


def refit_boxes(points, box_map):
    """Face boxes (N, 4) in the annotators' convention re-made from a landmark model's points (N, K, 2)."""
    return geometry.map_box(geometry.points_box(np.asarray(points, np.float64)), box_map)


def merge_new(found):
    """One ``Detections`` from several (raw, boxes, scores) of one photo in turn: every face of the first, then
    each next one's faces that no earlier one found (IoU < ``UNION_IOU`` in the annotators' convention)."""
    raw, boxes, scores = [], [], []
    for r, b, sc in found:
        for k in range(len(sc)):
            if boxes and geometry.box_iou(b[k], np.array(boxes))[0].max() >= UNION_IOU:
                continue
            raw.append(r[k])
            boxes.append(b[k])
            scores.append(sc[k])
    return Detections(raw, scores, boxes=boxes)


class Detector:
    """A backend: ``detect(image)`` -> ``Detections``; ``name`` names its box map."""

    name = "detector"
    min_score = 0.0
    thread_safe = False  # several threads may call detect at once (deploy.detect.TurnedDetector runs them so)

    def __init__(self, box_map=None):
        if box_map is None:
            box_map = load_box_maps().get(self.name, {}).get("map")
        self.box_map = box_map  # None: the detector's own boxes

    def raw(self, image):
        """(boxes (N, 4) in photo px, scores (N,)) in the detector's own convention."""
        raise NotImplementedError

    def for_turned(self):
        """The detector to run on a turned photo (``deploy.detect.TurnedDetector``): this one unless a backend
        looks differently there."""
        return self

    def require_box_map(self, fit_command):
        """Refuse to run without a box map: the landmark model would get crops in a convention it never learnt."""
        from recordio.errors import BadInput
        if self.box_map is None:
            raise BadInput("the %s detector has no box map in %s: its boxes do not follow the annotators' "
                           "convention the landmark model was trained on, so its crops would be wrong; fit one on "
                           "annotated photos with %s" % (self.name, BOXMAPS, fit_command))

    def detect(self, image):
        boxes, scores = self.raw(image)
        boxes, scores = np.asarray(boxes, np.float64).reshape(-1, 4), np.asarray(scores, np.float64).reshape(-1)
        keep = scores >= self.min_score
        return Detections(boxes[keep], scores[keep], self.box_map)
