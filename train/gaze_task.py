"""The gaze task for the shared loop: MC4 (head + eye -> gaze), MPIIFaceGaze and Gaze360."""
import numpy as np

from recordio import geometry, metrics
from recordio.dataset import RecordDataset
from recordio.schema import read_meta
from recordio.transforms import GazeTransform
from train.loop import Task

KINDS = {"gaze_mc4": "mc4", "gaze_mpiifacegaze": "mpiifacegaze", "gaze_gaze360": "gaze360"}
FRONT_FACING_DEG = 20.0  # Gaze360's "front-facing" subset: gaze within 20 degrees of the camera
QUANTILES = (0.1, 0.9)  # Gaze360's pinball loss: sigma spans the 10-90% interval


def add_args(ap):
    g = ap.add_argument_group("gaze")
    g.add_argument("--model", default="mc4_gazenet_small",
                   help="mc4_gazenet[_small|_resnet18], mobile_facegaze, gaze360_lstm, gaze360_static")
    g.add_argument("--loss", default="auto", choices=("auto", "smooth_l1", "l1", "l2", "pinball"),
                   help="auto: MC4 smooth_l1 on head, eye and gaze; MPIIFaceGaze l1; Gaze360 pinball")
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
            net = get_model(a.model, head_size=a.head_size, eye_size=a.eye_size)
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
            net = get_model(a.model, input_size=a.input_size, tile_frames=len(tiles))
            self.tiles_out = [dict(t, x=k * a.input_size, w=a.input_size, h=a.input_size)
                              for k, t in enumerate(tiles)]
            self.tiles_in = tiles
        self._net = net
        net.input_size = net.input_shape[1]  # the loop warms deferred shapes up with these
        return net

    def _transform(self, train):
        a = self.args
        return GazeTransform(self.kind, self.layout, self.tiles_in, self.tiles_out, self._net.input_channels,
                             train=train, flip=a.flip, scale=a.scale, shift=a.shift, color=a.color)

    def datasets(self, args, part_index, num_parts):
        if self._net is None:
            self.network(args)
        train = RecordDataset(args.train, self._transform(True), part_index, num_parts) if args.train else None
        val = RecordDataset(args.val, self._transform(False)) if args.val else None
        return train, val

    def _field(self, label, name):
        off, n = self.layout.offsets[name]
        return label.slice_axis(axis=1, begin=off, end=off + n)

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

    def predicted_vectors(self, outputs):
        """Gaze unit vectors (N, 3) in the camera frame from the network outputs."""
        if self.kind == "mc4":
            return geometry.mc4_to_vector(outputs[2][:, 0], outputs[2][:, 1])
        if self.kind == "mpiifacegaze":
            return geometry.pitchyaw_to_vector(outputs[0][:, 0], outputs[0][:, 1])
        return geometry.yawpitch_to_vector(outputs[0][:, 0], outputs[0][:, 1])

    def evaluate(self, outputs, labels):
        L = self.layout
        labelled = L.get(labels, "has_label")[:, 0] > 0.5
        if not labelled.any():
            return {}  # a test archive packed from images only has nothing to score
        outputs = [o[labelled] for o in outputs]
        labels = labels[labelled]
        truth = L.get(labels, "gaze_vector")
        err = metrics.angular_errors(self.predicted_vectors(outputs), truth)
        out = {"angular_error": float(err.mean()), "angular_error_median": float(np.median(err))}
        if self.kind == "mc4":
            for k, name in ((0, "head"), (1, "eye")):
                gt = L.get(labels, name)
                e = metrics.angular_errors(geometry.mc4_to_vector(outputs[k][:, 0], outputs[k][:, 1]),
                                           geometry.mc4_to_vector(gt[:, 0], gt[:, 1]))
                out[name + "_error"] = float(e.mean())
        if self.kind == "gaze360":
            to_camera = metrics.angular_errors(truth, np.tile(geometry.FORWARD, (len(truth), 1)))
            for name, sel in (("front180", to_camera < 90.0), ("front_facing", to_camera < FRONT_FACING_DEG)):
                out["angular_error_" + name] = float(err[sel].mean()) if sel.any() else float("nan")
            pred, sigma = outputs[0][:, :2], outputs[0][:, 2:3]
            gt = L.get(labels, "gaze")
            inside = (gt >= pred - sigma) & (gt <= pred + sigma)
            out["interval_coverage"] = float(inside.mean())
        return out

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
