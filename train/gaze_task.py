"""The gaze task for the shared loop: MC4 (head + eye -> gaze), MPIIFaceGaze and Gaze360."""
import math

import numpy as np

from recordio import metrics
from recordio.schema import archive_tiles, gaze_dataset, read_meta, tiles_size
from recordio.transforms import GazeTransform
from symbols import model_defaults
from train.task import Task, add_augmentation_args, network_kwargs, start_output_at

QUANTILES = (0.1, 0.9)  # Gaze360's pinball loss: sigma spans the 10-90% interval


def add_args(ap):
    g = ap.add_argument_group("gaze")
    g.add_argument("--model", help="default: the dataset's seed network (MC4: mc4_gazenet, two ResNeXt-50 32x4d; "
                   "MPIIFaceGaze: mobile_facegaze; Gaze360: gaze360_lstm); CPU-sized stand-ins: mc4_gazenet_small, "
                   "mc4_gazenet_resnet18, gaze360_static")
    g.add_argument("--loss", default="auto", choices=("auto", "smooth_l1", "l1", "l2", "pinball"),
                   help="auto: the dataset's (MC4 smooth_l1 on head, eye and gaze; MPIIFaceGaze l1; Gaze360 pinball)")
    g.add_argument("--loss_reduction", default="mean", choices=("mean", "sum"),
                   help="a view's loss over its two angles: mean (the three sources: PyTorch's SmoothL1Loss and L1Loss "
                        "and Gaze360's pinball loss average) or sum (twice the gradient under SGD); the parts "
                        "(MC4's head, eye and gaze) are added and the batch averaged either way")
    g.add_argument("--backbone", help="per-view backbone (resnext50, resnet18, resnet34, resnet50, small); "
                   "default: the model's own")
    g.add_argument("--head_size", type=int, default=224, help="MC4: side of the head view the face net sees")
    g.add_argument("--eye_size", type=int, default=112, help="MC4: side of each eye view")
    g.add_argument("--input_size", type=int, default=112, help="MPIIFaceGaze face / Gaze360 frame side")
    g.add_argument("--loss_scale", type=float, default=1.0,
                   help="angle differences are divided by this before the loss (the MC4 baseline maps degrees to "
                        "[0, 1] by (a + 90) / 180 first: 180)")
    g.add_argument("--crop_scale", type=float, nargs=2, metavar=("MIN", "MAX"),
                   help="train each view on its own random resized crop of MIN..MAX of its area (Gaze360: 0.8 1), "
                        "instead of --zoom and --shift")
    add_augmentation_args(g, zoom=0.05, shift=0.04)
    return ap


def pinball(F, err, tau):
    """Quantile loss of ``err = truth - prediction`` at quantile ``tau``."""
    return F.maximum(tau * err, (tau - 1) * err)


class GazeTask(Task):
    """A gaze dataset (``schema.GazeDataset``, from the archive's meta) on the shared loop.

    The network's input (tile grid and channels) is known when the task is made: the tiles from the
    dataset's entry sized by the arguments, the channels from the model's defaults."""

    name = "gaze"
    metric = "angular_error"
    network_args = ("model", "backbone", "head_size", "eye_size", "input_size", "pretrained")

    def __init__(self, args):
        self.args = args
        meta = read_meta(args.train or args.val)
        try:
            self.dataset = gaze_dataset(meta["task"], meta["_path"])
        except ValueError as e:
            raise SystemExit("error: %s" % e)
        ds = self.dataset
        if not args.model:
            args.model = ds.default_model
        if not any(args.model.startswith(m) for m in ds.models):
            raise SystemExit("error: %s archives need one of %s, not %s" % (ds.name, ", ".join(ds.models), args.model))
        self.layout = meta["_layout"]
        self.meta = meta
        self.tiles_in = archive_tiles(meta)
        self.tiles_out = ds.network_tiles(args)
        defaults = model_defaults(args.model)
        self.channels = defaults["input_channels"]
        self.one_eye = defaults.get("eyes") == "one"  # MC4's source eye net: either eye at random in training
        w, h = tiles_size(self.tiles_out)
        self.input_shape = (self.channels, h, w)

    def network(self, args):
        from symbols import get_model
        kw = {"backbone": args.backbone} if getattr(args, "backbone", None) else {}
        kw.update({a: getattr(args, a) for a in self.dataset.size_args.values()})
        kw.update(network_kwargs(args))
        return get_model(args.model, **kw)

    def transform(self, train):
        a = self.args
        return GazeTransform(self.dataset, self.layout, self.tiles_in, self.tiles_out, self.channels,
                             train=train, flip=a.flip_prob, scale=a.zoom, shift=a.shift, color=a.color,
                             crop_scale=a.crop_scale, swap_views=0.5 if self.one_eye else 0.0)

    def loss(self, outputs, label):
        from mxnet import nd as F
        ds = self.dataset
        kind = ds.default_loss if self.args.loss == "auto" else self.args.loss
        named = [(outputs[k], name) for name, k in ds.parts] + [(outputs[ds.gaze_output], "gaze")]
        total = 0
        for out, name in named:
            pred = out.slice_axis(axis=1, begin=0, end=2) / self.args.loss_scale
            truth = self.field(label, name) / self.args.loss_scale
            if kind == "pinball":
                if not ds.sigma:
                    raise SystemExit("error: --loss pinball needs a network with sigma (Gaze360)")
                sigma = out.slice_axis(axis=1, begin=2, end=3) / self.args.loss_scale
                lo, hi = F.broadcast_sub(pred, sigma), F.broadcast_add(pred, sigma)
                d = pinball(F, truth - lo, QUANTILES[0]) + pinball(F, truth - hi, QUANTILES[1])
            else:
                d = self._pointwise(F, pred - truth, kind)
            total = total + (F.sum(d, axis=1) if self.args.loss_reduction == "sum" else F.mean(d, axis=1))
        return total

    @staticmethod
    def _pointwise(F, d, kind):
        if kind == "l2":
            return F.square(d)
        if kind == "l1":
            return F.abs(d)
        return F.smooth_l1(d, scalar=1.0)

    def evaluate(self, outputs, labels):
        return metrics.gaze_report(self.dataset, outputs, labels, self.layout)

    def init_network(self, net, train_ds):
        """A dataset whose gaze output is the angles themselves (MPIIFaceGaze) starts it at the training
        mean (``task.start_output_at``), so the first steps do not chase the noise of a random head (which
        can switch off the features).  A network without a single such layer, or one built as a source that
        does not do this (``starts_at_mean`` False: Mobile FaceGaze's source head), is left as it is."""
        if self.dataset.linear_output and getattr(net, "starts_at_mean", True):
            start_output_at(net, self.layout.get(train_ds.labels(), "gaze").mean(axis=0))

    @property
    def calibrates(self):
        return self.dataset.sigma

    def calibrate(self, net, outputs, labels):
        """Gaze360: scale sigma so that pred +- sigma holds the truth for 80% of the validation angles
        (split-conformal quantile regression: a network that fits its training set well comes out
        over-confident on new faces).  Returns what it did."""
        import mxnet as mx
        if not len(labels):
            raise ValueError("no validation sample to calibrate the interval on")
        pred, sigma = outputs[0][:, :2], outputs[0][:, 2:3]
        err = np.abs(self.layout.get(labels, "gaze") - pred)
        ratio = (err / np.maximum(sigma, 1e-6)).ravel()
        target = QUANTILES[1] - QUANTILES[0]
        k = min(int(np.ceil((len(ratio) + 1) * target)), len(ratio))  # the finite-sample conformal rank
        ranked = np.sort(ratio)
        # halfway to the next angle, so float rounding in the export cannot move an angle across the edge
        factor = float(0.5 * (ranked[k - 1] + ranked[k]) if k < len(ranked) else ranked[-1] * 1.01)
        old = float(net.sigma_scale.data().asnumpy()[0])
        net.sigma_scale.set_data(mx.nd.array([old * factor]))
        after = float((err <= np.minimum(sigma * factor, math.pi)).mean())  # the network clips sigma at pi
        return {"interval_coverage_uncalibrated": float((err <= sigma).mean()), "sigma_scale": old * factor,
                "interval_coverage": after}

    def export_meta(self, args, net):
        ds = self.dataset
        return {"task": "gaze", "dataset": ds.name, "model": args.model,
                "input": {"name": "data", "shape": [1] + list(self.input_shape),
                          "color": "gray" if self.channels == 1 else "bgr", "value_range": [0, 255],
                          "layout": "NCHW", "tiles": self.tiles_out, "kind": ds.input, "view": dict(ds.view),
                          "head_crop": self.meta.get("head_crop")},
                "outputs": list(ds.outputs), "angles": dict(ds.angles),
                "camera_frame": "x right, y down, z forward (recordio.geometry)"}
