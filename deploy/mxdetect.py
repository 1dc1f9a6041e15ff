"""A face detector the project trained (``train/train_detector.py``), from its export only."""
import cv2

from deploy.detect import Detector


class MXNetDetector(Detector):
    """The exported SSD: the photo stretched to the network's square input, boxes scaled back to photo px."""

    name = "mxnet"
    min_score = 0.5

    def __init__(self, prefix, box_map=None, min_score=None, ctx=None):
        from deploy.predictor import Predictor
        super().__init__(box_map)
        self.predictor = Predictor(prefix, ctx=ctx)
        if self.predictor.meta.get("task") != "detection":
            raise ValueError("%s is a %s model, not a detector" % (prefix, self.predictor.meta.get("task")))
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
