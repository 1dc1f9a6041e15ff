"""The landmark task for the shared loop: data, network, loss and metrics."""

import numpy as np

from recordio import geometry, metrics
from recordio.schema import get_schema, read_meta
from recordio.transforms import LandmarkTransform
from symbols import model_defaults
from train.task import Task, add_augmentation_args, network_kwargs, start_output_at


def add_args(ap):
    g = ap.add_argument_group("landmarks")
    g.add_argument("--model", default="course_stage1")
    g.add_argument("--loss", default="huber", choices=("l2", "huber", "smooth_l1", "wing", "l1", "pfld", "pfld_wing"),
                   help="pfld: PFLD's attribute- and pose-weighted L2; pfld_wing: the same weights on Wing")
    g.add_argument("--loss_reduction", default="mean", choices=("mean", "sum"),
                   help="a face's loss: the mean or the sum over its 2K coordinates (the MXNet article's BASE "
                        "recipe sums squared pixel errors); the batch is averaged either way")
    g.add_argument("--rho", type=float, default=5.0, help="Huber threshold in input px (the seed uses 5)")
    g.add_argument("--channels", type=int, help="input channels (default: the network's)")
    g.add_argument("--input_size", type=int, help="input side, px (default: the network's)")
    add_augmentation_args(g, zoom=0.1, shift=0.06)
    g.add_argument("--rotate", type=float, default=20.0, help="max rotation, degrees")
    g.add_argument("--gray", type=float, default=0.1, help="probability of a grayscale colour sample")
    g.add_argument("--lowres", type=float, default=0.0,
                   help="probability of a small face: the record downscaled 2-4x and blurred before the crop")
    g.add_argument("--balance_pose", action="store_true",
                   help="draw training faces pose-balanced: each |yaw| bin (0-30, 30-60, 60+) and |roll| bin "
                        "(0-30, 30+) as often as the frontal upright one, at most MAX_POSE_WEIGHT times its share")
    g.add_argument("--landmark_weight", type=float, default=1.0,
                   help="stage 3: a in the course's loss a * landmark + b * classification")
    g.add_argument("--face_weight", type=float, default=1.0,
                   help="stage 3: b in the course's loss a * landmark + b * classification")
    g.add_argument("--pos_weight", type=float, default=1.0, help="stage 3: cross-entropy weight of faces")
    g.add_argument("--neg_weight", type=float, default=1.0, help="stage 3: cross-entropy weight of non-faces")
    return ap


MAX_POSE_WEIGHT = 8.0  # a rare pose is drawn at most this many times as often as its share: no few faces memorised


class LandmarkTask(Task):
    """A landmark archive (its schema from the meta) on the shared loop; the network's input (size and
    channels) comes from the arguments or the model's defaults when the task is made."""

    name = "landmarks"
    metric = "nme"
    network_args = ("model", "channels", "input_size", "pretrained")

    def __init__(self, args):
        self.args = args
        meta = read_meta(args.train or args.val)
        self.schema = get_schema(meta["schema"])
        self.layout = meta["_layout"]
        self.archive_meta = meta
        defaults = model_defaults(args.model)
        self.size = args.input_size or defaults["input_size"]
        self.channels = args.channels or defaults["input_channels"]
        self.face_head = bool(defaults.get("face_head", False))
        self.input_shape = (self.channels, self.size, self.size)

    def network(self, args):
        from symbols import get_model
        return get_model(args.model, num_points=self.schema.num_points, input_size=self.size,
                         input_channels=self.channels, **network_kwargs(args))

    def init_network(self, net, train_ds):
        """Start the landmark output at the training set's mean shape (``task.start_output_at``), so early
        steps refine a face instead of first finding where faces are."""
        from recordio.dataset import mean_shape
        if not getattr(net, "starts_at_mean_shape", True):  # heatmap heads: no dense output to start
            return
        if not start_output_at(net, mean_shape(train_ds.reader).ravel()):
            raise ValueError("cannot tell the landmark output layer of %s (no single bias of width %d)"
                             % (type(net).__name__, 2 * self.schema.num_points))

    def transform(self, train):
        a = self.args
        return LandmarkTransform(self.schema, self.size, self.channels, train=train, flip=a.flip_prob,
                                 rotate=a.rotate, scale=(1 - a.zoom, 1 + a.zoom), shift=a.shift, color=a.color,
                                 gray=a.gray, lowres=a.lowres)

    def sample_weights(self, train_ds):
        """``--balance_pose``: each face weighted by 1 / the share of its pose bin (|yaw| and |roll| from the
        annotated points), capped at ``MAX_POSE_WEIGHT``; non-face crops keep weight 1."""
        if not self.args.balance_pose:
            return None
        labels = train_ds.labels()
        face = self.layout.get(labels, "face")[:, 0] > 0.5
        euler = np.abs(self.layout.get(labels, "euler"))
        yaw_bin = np.searchsorted([30.0, 60.0], euler[:, 1], side="right")
        roll_bin = np.searchsorted([30.0], euler[:, 2], side="right")
        key = yaw_bin * 2 + roll_bin
        weights = np.ones(len(labels))
        counts = np.bincount(key[face], minlength=6).astype(float)
        share = counts / max(counts.sum(), 1.0)
        weights[face] = np.minimum(share.max() / np.maximum(share[key[face]], 1e-9), MAX_POSE_WEIGHT)
        return weights

    def loss(self, outputs, label):
        from train.losses import LandmarkLoss, MaskedFaceLoss, PFLDLoss
        a = self.args
        target = self.field(label, "points") / self.size
        face = self.field(label, "face").reshape((-1,))
        pred = outputs[0]
        if a.loss.startswith("pfld"):
            if len(outputs) < 2:
                raise ValueError("--loss %s needs a network with the auxiliary pose head (pfld_*)" % a.loss)
            base = "wing" if a.loss == "pfld_wing" else "l2"
            return PFLDLoss(self.size, base)(pred, target, outputs[1], self.field(label, "euler"),
                                             self.field(label, "attributes")) * face
        lmk = LandmarkLoss(a.loss, self.size, rho=a.rho, reduction=a.loss_reduction)
        if self.face_head:
            landmark, classification = MaskedFaceLoss(lmk, a.pos_weight, a.neg_weight, a.landmark_weight,
                                                      a.face_weight)(pred, target, outputs[1], face)
            return {"landmark": landmark, "face": classification}
        return lmk(pred, target) * face

    def evaluate(self, outputs, labels):
        L = self.layout
        face = L.get(labels, "face")[:, 0] > 0.5
        out = {}
        if face.any():
            pred = outputs[0][face].reshape(-1, self.schema.num_points, 2) * self.size
            gt = L.get(labels[face], "points").reshape(-1, self.schema.num_points, 2)
            A = L.get(labels[face], "affine")
            nmes = metrics.nme(geometry.apply_affines(A, pred), geometry.apply_affines(A, gt), self.schema)
            rep = metrics.landmark_report(nmes)
            out.update(nme=rep["nme"], nme_median=rep["nme_median"], fr=rep["fr"], auc=rep["auc"],
                       mse_px=float(np.mean(np.square(pred - gt))))  # the course's MSELoss, input px squared
        if self.face_head:
            logits = outputs[1]
            cls = metrics.classification_report(logits[:, 1] > logits[:, 0], face)
            out.update(face_acc=cls["accuracy"], face_acc_pos=cls["positives"], face_acc_neg=cls["negatives"])
        return out

    def export_meta(self, args, net):
        outputs = [{"name": "landmarks", "shape": [2 * self.schema.num_points],
                    "unit": "share of the input side; x, y per point (multiply by the input size for crop px)"}]
        if self.face_head:
            outputs.append({"name": "face_prob", "shape": [2], "unit": "softmax over [non-face, face]"})
        return {"task": "landmarks", "schema": self.schema.name, "model": args.model,
                "input": {"name": "data", "shape": [1, self.channels, self.size, self.size],
                          "color": "gray" if self.channels == 1 else "bgr", "value_range": [0, 255],
                          "layout": "NCHW"},
                "outputs": outputs, "crop": self.archive_meta.get("crop"),
                "source_format": self.archive_meta.get("source_format")}
