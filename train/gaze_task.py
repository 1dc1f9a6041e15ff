"""The gaze task for the shared loop: MC4 (head + eye -> gaze), MPIIFaceGaze and Gaze360."""
import math

import numpy as np

from recordio import metrics
from recordio.schema import read_meta
from recordio.transforms import GazeTransform
from train.loop import Task, start_output_at

KINDS = {"gaze_mc4": "mc4", "gaze_mpiifacegaze": "mpiifacegaze", "gaze_gaze360": "gaze360"}
QUANTILES = (0.1, 0.9)  # Gaze360's pinball loss: sigma spans the 10-90% interval


def add_args(ap):
    g = ap.add_argument_group("gaze")
    g.add_argument("--model", default="mc4_gazenet_small",
                   help="mc4_gazenet[_small|_resnet18], mobile_facegaze, gaze360_lstm, gaze360_static")
    g.add_argument("--loss", default="auto", choices=("auto", "smooth_l1", "l1", "l2", "pinball"),
                   help="auto: MC4 smooth_l1 on head, eye and gaze; MPIIFaceGaze l1; Gaze360 pinball")
    g.add_argument("--backbone", help="per-view backbone (resnext50, resnet18, resnet34, resnet50, small); "
                   "default: the model's own")
    g.add_argument("--head_size", type=int, default=224, help="MC4: side of the head view the face net sees")
    g.add_argument("--eye_size", type=int, default=112, help="MC4: side of each eye view")
    g.add_argument("--input_size", type=int, default=112, help="MPIIFaceGaze face / Gaze360 frame side")
    g.add_argument("--flip", type=float, default=0.5)
    g.add_argument("--scale", type=float, default=0.05)
    g.add_argument("--shift", type=float, default=0.04)
    g.add_argument("--color", type=float, default=0.3)
    return ap


def pinball(F, err, tau):
    """Quantile loss of ``err = truth - prediction`` at quantile ``tau``."""
    return F.maximum(tau * err, (tau - 1) * err)


class GazeTask(Task):
    name = "gaze"
    metric = "angular_error"

    def __init__(self, args):
        self.args = args
        meta = read_meta(args.train or args.val)
        if meta["task"] not in KINDS:
            raise SystemExit("error: %s is a %s archive, not gaze (%s)" % (meta["_path"], meta["task"],
                                                                          ", ".join(KINDS)))
        self.kind = KINDS[meta["task"]]
        self.layout = meta["_layout"]
        self.meta = meta
        self._net = None

    def network(self, args):
        from symbols import get_model
        a = args
        if self.kind == "mc4":
            if not a.model.startswith("mc4_gazenet"):
                raise SystemExit("error: MC4 archives need an mc4_gazenet model, not %s" % a.model)
            net = get_model(a.model, head_size=a.head_size, eye_size=a.eye_size, **self._backbone_kw(a))
            h, e = a.head_size, a.eye_size
            self.tiles_out = [{"name": "head", "x": 0, "y": 0, "w": h, "h": h},
                              {"name": "l_eye", "x": h, "y": 0, "w": e, "h": e},
                              {"name": "r_eye", "x": h, "y": e, "w": e, "h": e}]
            self.tiles_in = self.meta["tiles"]
        elif self.kind == "mpiifacegaze":
            net = get_model(a.model, input_size=a.input_size)
            s = a.input_size
            self.tiles_out = [{"name": "face", "x": 0, "y": 0, "w": s, "h": s}]
            im = self.meta["image"]
            self.tiles_in = [{"name": "face", "x": 0, "y": 0, "w": im["width"], "h": im["height"]}]
        else:
            if not a.model.startswith("gaze360"):
                raise SystemExit("error: Gaze360 archives need gaze360_lstm or gaze360_static, not %s" % a.model)
            tiles = self.meta["tiles"]
            net = get_model(a.model, input_size=a.input_size, tile_frames=len(tiles), **self._backbone_kw(a))
            self.tiles_out = [dict(t, x=k * a.input_size, w=a.input_size, h=a.input_size)
                              for k, t in enumerate(tiles)]
            self.tiles_in = tiles
        self._net = net
        return net

    @staticmethod
    def _backbone_kw(args):
        return {"backbone": args.backbone} if getattr(args, "backbone", None) else {}

    def _transform(self, train):
        a = self.args
        return GazeTransform(self.kind, self.layout, self.tiles_in, self.tiles_out, self._net.input_channels,
                             train=train, flip=a.flip, scale=a.scale, shift=a.shift, color=a.color)

    def loss(self, outputs, label):
        from mxnet import nd as F
        kind = self.args.loss if self.args.loss != "auto" else \
            {"mc4": "smooth_l1", "mpiifacegaze": "l1", "gaze360": "pinball"}[self.kind]
        if self.kind == "mc4":
            total = 0
            for out, name in zip(outputs, ("head", "eye", "gaze")):
                total = total + F.sum(self._pointwise(F, out - self._field(label, name), kind), axis=1)
            return total
        truth = self._field(label, "gaze")
        if self.kind == "gaze360":
            pred, sigma = outputs[0].slice_axis(axis=1, begin=0, end=2), outputs[0].slice_axis(axis=1, begin=2, end=3)
            if kind != "pinball":
                return F.sum(self._pointwise(F, pred - truth, kind), axis=1)
            lo, hi = F.broadcast_sub(pred, sigma), F.broadcast_add(pred, sigma)
            return F.sum(pinball(F, truth - lo, QUANTILES[0]) + pinball(F, truth - hi, QUANTILES[1]), axis=1)
        return F.sum(self._pointwise(F, outputs[0] - truth, kind), axis=1)

    @staticmethod
    def _pointwise(F, d, kind):
        if kind == "l2":
            return F.square(d)
        if kind == "l1":
            return F.abs(d)
        return F.smooth_l1(d, scalar=1.0)

    def evaluate(self, outputs, labels):
        return metrics.gaze_report(self.kind, outputs, labels, self.layout)

    def init_network(self, net, train_ds):
        """MPIIFaceGaze: start the (pitch, yaw) output at the training mean (``loop.start_output_at``), so
        the first steps do not chase the noise of a random head (which can switch off the features).
        A network without a single (pitch, yaw) layer is left as it is."""
        if self.kind == "mpiifacegaze":
            start_output_at(net, self.layout.get(train_ds.labels(), "gaze").mean(axis=0))

    @property
    def calibrates(self):
        return self.kind == "gaze360"

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
        units = {"mc4": [{"name": n, "shape": [2], "unit": "deg, MC4 (lo, la)"} for n in ("head", "eye", "gaze")],
                 "mpiifacegaze": [{"name": "gaze", "shape": [2], "unit": "rad, MPIIFaceGaze (pitch, yaw)"}],
                 "gaze360": [{"name": "gaze", "shape": [3],
                              "unit": "rad, Gaze360 (yaw, pitch) and sigma: the 10-90% interval is angle +- sigma"}]}
        return {"task": "gaze", "dataset": self.kind, "model": args.model,
                "input": {"name": "data", "shape": [1] + list(net.input_shape),
                          "colour": "gray" if net.input_channels == 1 else "bgr", "value_range": [0, 255],
                          "layout": "NCHW", "tiles": self.tiles_out},
                "outputs": units[self.kind],
                "camera_frame": "x right, y down, z forward (recordio.geometry)"}
