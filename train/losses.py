"""Loss blocks.  Landmark losses see coordinates in input pixels (``scale`` = input side), so
Huber's rho and Wing's w, epsilon keep their usual pixel meaning.  Each returns one loss per
sample, (N,); the Trainer divides the summed gradient by the batch size.
"""
import math

from mxnet.gluon.loss import Loss

from recordio import geometry


class LandmarkLoss(Loss):
    """Point-wise regression loss on (N, 2K) landmarks given as shares of the input side.

    kind : 'l2' (squared distance), 'huber' (rho px, the seed uses 5), 'smooth_l1'
        (sigma=1 on px), 'wing' (w px, epsilon px), 'l1'.
    reduction : 'mean' or 'sum' over a sample's 2K coordinates (the batch is always averaged).
    """

    def __init__(self, kind="huber", scale=112.0, rho=5.0, wing_w=10.0, wing_eps=2.0, weight=None, batch_axis=0,
                 reduction="mean", **kwargs):
        super().__init__(weight, batch_axis, **kwargs)
        if kind not in ("l2", "huber", "smooth_l1", "wing", "l1"):
            raise ValueError("unknown landmark loss %r (l2, huber, smooth_l1, wing, l1)" % kind)
        if reduction not in ("mean", "sum"):
            raise ValueError("unknown reduction %r (mean, sum)" % reduction)
        self.kind, self.scale, self.rho, self.reduction = kind, float(scale), float(rho), reduction
        self.wing_w, self.wing_eps = float(wing_w), float(wing_eps)
        self.wing_c = self.wing_w - self.wing_w * math.log(1 + self.wing_w / self.wing_eps)

    def pointwise(self, F, pred, target):
        d = F.abs(pred - target) * self.scale
        if self.kind == "l2":
            return F.square(d)
        if self.kind == "l1":
            return d
        if self.kind == "huber":
            return F.where(d > self.rho, d - 0.5 * self.rho, 0.5 / self.rho * F.square(d))
        if self.kind == "smooth_l1":
            return F.smooth_l1(d, scalar=1.0)
        return F.where(d < self.wing_w, self.wing_w * F.log(1 + d / self.wing_eps), d - self.wing_c)

    def hybrid_forward(self, F, pred, target, sample_weight=None):
        d = self.pointwise(F, pred, target)
        return F.sum(d, axis=1) if self.reduction == "sum" else F.mean(d, axis=1)


class PFLDLoss(Loss):
    """PFLD's attribute- and angle-weighted L2, with the published code's faults fixed.

    ``loss_n = w_attr_n * w_angle_n * mean_points |d|^2`` where
    ``w_angle = 1 + sum_k (1 - cos(pred_k - gt_k))`` over pitch, yaw, roll in
    radians, and ``w_attr = 1 + sum_c a_c / share_c`` over the WFLW attributes,
    ``share_c`` their share in the batch.  Both are at least 1: a face with no
    attribute and a perfectly predicted pose keeps its landmark loss (the
    original gives it weight 0 and compares degrees with radians).  ``base='wing'`` puts the
    same weights on the Wing loss of each coordinate instead of the squared distance.
    """

    def __init__(self, scale=112.0, base="l2", batch_axis=0, **kwargs):
        super().__init__(None, batch_axis, **kwargs)
        self.base = LandmarkLoss(base, scale)

    def hybrid_forward(self, F, pred, target, euler_pred, euler_gt_deg, attributes):
        sq = self.base.pointwise(F, pred, target).mean(axis=1) * 2  # l2: mean squared point distance, px^2
        delta = euler_pred - euler_gt_deg * geometry.DEG
        w_angle = 1 + F.sum(1 - F.cos(delta), axis=1)
        share = F.mean(attributes, axis=0, keepdims=True)
        inv = F.where(share > 0, 1.0 / F.maximum(share, 1e-6), F.zeros_like(share))
        w_attr = 1 + F.mean(F.broadcast_mul(attributes, inv), axis=1)
        return w_attr * w_angle * sq


class MaskedFaceLoss(Loss):
    """Stage 3, as the course defines it: ``a * landmark + b * classification``, returned as the two terms.

    ``landmark = a * y * lmk / max(share of positives, 1/1024)`` (only faces add to it; dividing by their
    share keeps its scale whatever the share of non-face crops in the batch) and
    ``classification = b * w_y * CE(logits, y)`` with ``w_1 = pos_weight``, ``w_0 = neg_weight``.
    """

    def __init__(self, landmark_loss, pos_weight=1.0, neg_weight=1.0, landmark_weight=1.0, face_weight=1.0,
                 batch_axis=0, **kwargs):
        super().__init__(None, batch_axis, **kwargs)
        self.landmark_loss = landmark_loss
        self.pos_weight, self.neg_weight = pos_weight, neg_weight
        self.landmark_weight, self.face_weight = landmark_weight, face_weight

    def hybrid_forward(self, F, pred, target, logits, face):
        logp = F.log_softmax(logits, axis=-1)
        ce = -F.pick(logp, face, axis=-1)
        w = face * self.pos_weight + (1 - face) * self.neg_weight
        share = F.maximum(F.mean(face), 1.0 / 1024)
        lmk = self.landmark_loss(pred, target) * face
        return self.landmark_weight * F.broadcast_div(lmk, share), self.face_weight * w * ce
