"""A face detector the project trained (``train/train_detector.py``), from its export only."""
import cv2

from deploy.detector_base import Detector

ANNOTATORS = "course21 annotators"  # the detection packer's box_convention: the boxes the landmark crops follow
IDENTITY = (0.0, 0.0, 1.0, 1.0)  # geometry.map_box's map that leaves a box as it is


class MXNetDetector(Detector):
    """The exported SSD: the photo stretched to the network's square input, boxes scaled back to photo px."""

    name = "mxnet"
    min_score = 0.5

    def __init__(self, prefix, box_map=None, min_score=None, ctx=None):
        from deploy.predictor import Predictor
        from recordio.errors import BadInput
        super().__init__(box_map)
        self.predictor = Predictor(prefix, ctx=ctx)
        meta = self.predictor.meta
        if meta.get("task") != "detection":
            raise BadInput("%s is a %s model, not a detector" % (prefix, meta.get("task")))
        if self.box_map is None and str(meta.get("box_convention", "")).startswith(ANNOTATORS):
            self.box_map = IDENTITY  # it learnt the annotators' boxes (and no map was fitted): its own are theirs
        self.require_box_map("python tools/fit_boxmap.py mxnet COURSE_DIR --mxnet %s (it learnt %s)"
                             % (prefix, meta.get("box_convention") or "boxes of an unrecorded convention"))
        self.size = self.predictor.size
        if min_score is not None:
            self.min_score = min_score

    def raw(self, image):
        h, w = image.shape[:2]
        x = cv2.resize(image, (self.size, self.size), interpolation=cv2.INTER_LINEAR).transpose(2, 0, 1)[None]
        ids, scores, boxes = self.predictor.raw(x)
        keep = (ids[0, :, 0] == 0) & (scores[0, :, 0] > 0)
        boxes = boxes[0][keep] * [w / self.size, h / self.size, w / self.size, h / self.size]
        return boxes, scores[0, :, 0][keep]
