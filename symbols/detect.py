"""Face detection networks: gluoncv's SSD (``pretrained=False``) sized for faces, taking raw BGR pixels.

``FaceSSD``: MobileNet 0.25 features at strides 8, 16 and 32 and two extra layers (64, 128), one square
anchor size per layer and the geometric mean of it and the next (course boxes are squares), from 13 px at
a 416 px input: faces down to about 3% of the photo's long side.  The network returns gluoncv's raw
(class predictions, box predictions, anchors) always (gluoncv's SSD chooses its outputs by training mode
when the graph is traced, so a hybridized network would keep one choice); ``SSDDecoder`` turns them into
(ids, scores, boxes), boxes in input pixels, in validation and in the export.  The network normalises its
input as gluoncv's ImageNet-style networks expect (BGR to RGB, mean, std), so the export takes raw pixels
like every other network here.
"""
import mxnet as mx
from mxnet.gluon.block import HybridBlock

from symbols.common import Normalize

FACE_FEATURES = ("relu10_fwd", "relu22_fwd", "relu26_fwd")  # MobileNet 0.25 at strides 8, 16, 32
FACE_STEPS = (8, 16, 32, 64, 128)
BOX_STDS = (0.1, 0.1, 0.2, 0.2)  # gluoncv's SSD box encoding
NMS_IOU, NMS_TOPK, KEEP = 0.45, 400, 100  # gluoncv's SSD defaults: overlap, candidates into NMS, boxes kept


class SSDDecoder(HybridBlock):
    """gluoncv's SSD inference step: (class predictions, box predictions, anchors) to (ids (N, KEEP, 1), scores
    (N, KEEP, 1), boxes (N, KEEP, 4) in input px), per class, after NMS; -1 ids pad the rest."""

    def __init__(self, num_classes=1, **kwargs):
        super().__init__(**kwargs)
        from gluoncv.nn.coder import MultiPerClassDecoder, NormalizedBoxCenterDecoder
        self.num_classes = num_classes
        with self.name_scope():
            self.bbox_decoder = NormalizedBoxCenterDecoder(BOX_STDS)
            self.cls_decoder = MultiPerClassDecoder(num_classes + 1, thresh=0.01)

    def hybrid_forward(self, F, cls_preds, box_preds, anchors):
        boxes = self.bbox_decoder(box_preds, anchors)
        ids, scores = self.cls_decoder(F.softmax(cls_preds, axis=-1))
        result = F.concat(*[F.concat(ids.slice_axis(axis=-1, begin=k, end=k + 1),
                                     scores.slice_axis(axis=-1, begin=k, end=k + 1), boxes, dim=-1)
                            for k in range(self.num_classes)], dim=1)
        result = F.contrib.box_nms(result, overlap_thresh=NMS_IOU, topk=NMS_TOPK, valid_thresh=0.01, id_index=0,
                                   score_index=1, coord_start=2, force_suppress=False)
        result = result.slice_axis(axis=1, begin=0, end=KEEP)
        return (F.slice_axis(result, axis=2, begin=0, end=1), F.slice_axis(result, axis=2, begin=1, end=2),
                F.slice_axis(result, axis=2, begin=2, end=6))


class FaceSSD(HybridBlock):
    """SSD face detector.

    Parameters
    ----------
    input_size : side of the square input, px (photos are resized to it).
    min_size : anchor side of the stride-8 layer at that input, px; each next layer doubles it.
    """

    outputs = ("class_predictions", "box_predictions", "anchors")
    deploy = {"keep": (0, 1, 2), "softmax": (), "decode": "decoder"}  # the export decodes: ids, scores, boxes
    input_channels = 3

    def __init__(self, input_size=416, min_size=13.0, classes=("face",), **kwargs):
        super().__init__(**kwargs)
        from gluoncv.model_zoo.ssd.ssd import get_ssd
        self.input_size = input_size
        self.input_shape = (3, input_size, input_size)
        sizes = [min_size * 2 ** k for k in range(len(FACE_STEPS) + 1)]
        with self.name_scope():
            self.norm = Normalize("imagenet", 3)
            self.ssd = get_ssd("mobilenet0.25", input_size, features=list(FACE_FEATURES), filters=[128, 128],
                               sizes=sizes, ratios=[[1.0]] * len(FACE_STEPS), steps=list(FACE_STEPS),
                               classes=list(classes), dataset="faces", pretrained=False, pretrained_base=False)
        # gluoncv's feature expander tags every parameter, batch-norm vectors too, with a Xavier initializer,
        # which cannot start a vector: scales and variances start at one, shifts and means at zero
        for name, p in self.ssd.collect_params().items():
            if name.endswith(("gamma", "running_var", "moving_var")):
                p.init = mx.init.One()
            elif name.endswith(("beta", "running_mean", "moving_mean", "bias")):
                p.init = mx.init.Zero()
        self.decoder = SSDDecoder(len(classes))

    def hybrid_forward(self, F, x):
        ssd = self.ssd
        features = ssd.features(self.norm(x))
        cls_preds = [F.flatten(F.transpose(cp(f), (0, 2, 3, 1))) for f, cp in zip(features, ssd.class_predictors)]
        box_preds = [F.flatten(F.transpose(bp(f), (0, 2, 3, 1))) for f, bp in zip(features, ssd.box_predictors)]
        anchors = [F.reshape(ag(f), shape=(1, -1)) for f, ag in zip(features, ssd.anchor_generators)]
        return (F.concat(*cls_preds, dim=1).reshape((0, -1, ssd.num_classes + 1)),
                F.concat(*box_preds, dim=1).reshape((0, -1, 4)), F.concat(*anchors, dim=1).reshape((1, -1, 4)))
