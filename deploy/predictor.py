"""Inference from exported files only (``model-symbol.json``, ``model-0000.params``, ``model-meta.json``).

>>> p = Predictor("runs/c21/model")
>>> out = p(batch)          # batch: (N, C, S, S) raw pixels, uint8 or float
>>> out["landmarks"].shape  # (N, K, 2) in crop px of the S x S input
"""
import json
import os
import re
import warnings

import numpy as np

from recordio import geometry, headpose
from recordio.errors import BadInput, BadModelFile, MissingFile, brief
from recordio.schema import PARAMS_DIGEST, check_params_digest, read_export_meta


BACKENDS = ("mxnet", "mkldnn", "onnxruntime", "int8", "auto")
AUTO_REPEATS = 5  # timed calls per backend when ``auto`` picks one (after one warm-up call)
INT8_CALIB_MODE = "naive"  # MXNet's calibration: each layer's min/max over the calibration batch
# Layers kept in float32: the first convolution (it sees raw pixels) and the dense layers (they regress the
# coordinates).  Quantizing them too doubled the course21 model shipped before's NME on its real test faces
# (0.0517 -> 0.1086, naive calibration); keeping them float gave 0.0518.  In an ensemble export each
# member's first convolution stays float, and so does the ensemble's own mean of their outputs.
INT8_FLOAT_OPS = ("FullyConnected",)
ENSEMBLE_MEMBER = re.compile(r"m\d+_")  # train/export.py names an ensemble member's layers m0_..., m1_...
UPRIGHT_DEG = 15.0  # faces rolled further are answered again turned upright (chosen on the validation photos)
CALIB_SAMPLES = 128  # inputs an archive lends the int8 calibration (spread evenly over it)


def add_backend_args(ap, auto=False):
    """``--backend`` and ``--calib`` for the scripts that run exports; ``auto``: the script's default is auto."""
    ap.add_argument("--backend", choices=BACKENDS, default=None,
                    help="mxnet%s, mkldnn, onnxruntime (RUN_DIR/model.onnx from train/export.py --onnx), int8 "
                         "(MXNet quantization, calibrated on --calib) or auto (the fastest at load%s)"
                         % ("" if auto else " (default)",
                            ", the default: each network on the backend that ran it fastest, the choice and "
                            "timings in the summary" if auto else ""))
    ap.add_argument("--calib", metavar="ARCHIVE", help="int8: calibrate on %d samples of this archive" % CALIB_SAMPLES)
    ap.add_argument("--upright", type=float, default=UPRIGHT_DEG, metavar="DEG",
                    help="landmark models: a face whose first points are rolled more than DEG degrees is answered "
                         "again from its crop turned upright (default %(default)s)")
    ap.add_argument("--no_upright", action="store_true", help="landmark models: one pass, no face turned upright")


def backend_kwargs(args, prefix):
    """Predictor keyword arguments for ``args.backend`` (``--mkldnn`` is ``--backend mkldnn``)."""
    backend = getattr(args, "backend", None) or ("mkldnn" if getattr(args, "mkldnn", False) else None)
    calib = None
    if getattr(args, "calib", None):
        with open(prefix + "-meta.json") as f:
            calib = calibration_batch(json.load(f), args.calib)
    elif backend == "int8":
        raise SystemExit("error: --backend int8 needs --calib ARCHIVE (samples to calibrate the int8 ranges on)")
    landmarks = False
    if os.path.exists(prefix + "-meta.json"):  # a missing export is Predictor's error to name
        with open(prefix + "-meta.json") as f:
            landmarks = json.load(f).get("task") == "landmarks"
    upright = None if getattr(args, "no_upright", False) or not landmarks else getattr(args, "upright", None)
    return {"backend": backend, "calib": calib, "batch_size": getattr(args, "batch_size", 1) or 1, "upright": upright}


def calibration_batch(meta, archive, n=CALIB_SAMPLES):
    """(n, C, H, W) inputs of the export described by ``meta`` from ``n`` records spread over ``archive``, cut as
    scoring cuts them."""
    from recordio.dataset import ArchiveReader
    from recordio.schema import archive_tiles
    from recordio.transforms import GazeTransform, LandmarkTransform
    reader = ArchiveReader(archive)
    shape = meta["input"]["shape"]
    if meta.get("task") == "landmarks":
        tf = LandmarkTransform(meta["schema"], shape[2], shape[1], train=False)
    elif meta.get("task") == "gaze":
        tf = GazeTransform(meta["dataset"], reader.layout, archive_tiles(reader.meta), meta["input"]["tiles"],
                           shape[1], train=False)
    else:
        raise SystemExit("error: int8 calibration from an archive is for landmark and gaze models, not %s"
                         % meta.get("task"))
    if not len(reader):
        raise SystemExit("error: %s is empty: nothing to calibrate on" % reader.rec_path)
    out = []
    for i in np.unique(np.linspace(0, len(reader) - 1, min(n, len(reader))).astype(int)):
        img, lab = reader.read(int(i))
        out.append(tf(img if img.ndim == 3 else img[:, :, None], lab)[0])
    return np.stack(out).astype(np.float32)


class Predictor:
    """An exported network.

    Parameters
    ----------
    prefix : path of the export without ``-symbol.json`` (e.g. ``RUN_DIR/model``).
    ctx : MXNet context or a list of them (default CPU); a batch is split across several.
    mkldnn : the same as ``backend="mkldnn"``.
    flip : landmark models: also run the mirrored batch and average it back (mirrored points move back
        and swap left/right by the schema's flip permutation); twice the work for a steadier answer.
    backend : ``mxnet`` (the graph as exported), ``mkldnn`` (fused by MXNet's MKLDNN subgraph backend, CPU),
        ``onnxruntime`` (``prefix.onnx``, written by ``train/export.py --onnx``; CPU), ``int8`` (MXNet's
        quantization with the MKLDNN backend, calibrated on ``calib``; the first convolution and the dense
        layers stay float32, see ``INT8_FLOAT_OPS``), ``auto`` (times every backend it can
        build at ``batch_size`` and keeps the fastest: ``self.backend``, ``self.timings`` in ms per call).
    calib : (N, C, H, W) inputs the int8 backend calibrates on (``calibration_batch``).
    batch_size : the batch size ``auto`` times.
    upright : landmark models: faces whose points (of a first pass) are rolled more than this many degrees
        (``headpose.roll_from_points``) are answered again from their crop turned upright about its centre,
        points and scores of that second pass turned back (None: one pass).  The model was trained on rolls
        up to its recipe's ``--rotate``; a face rolled further is turned into that range.
    """

    def __init__(self, prefix, ctx=None, mkldnn=False, flip=False, backend=None, calib=None, batch_size=1,
                 upright=None):
        if prefix.endswith("-symbol.json"):
            prefix = prefix[: -len("-symbol.json")]
        self.prefix = prefix
        self.meta = read_export_meta(prefix)
        inp = self.meta["input"]
        self.channels, self.size = inp["shape"][1], inp["shape"][2]
        self.height, self.width = inp["shape"][2], inp["shape"][3]
        self.output_names = [o["name"] for o in self.meta["outputs"]]
        self.flip_perm = None
        self.upright = upright
        if upright is not None and self.meta.get("task") != "landmarks":
            raise BadInput("upright is for landmark models; %s is a %s model" % (prefix, self.meta.get("task")))
        if flip:
            if self.meta.get("task") != "landmarks":
                raise BadInput("flip averaging is for landmark models; %s is a %s model"
                                 % (prefix, self.meta.get("task")))
            from recordio.schema import get_schema
            self.flip_perm = get_schema(self.meta["schema"]).flip_perm
        backend = backend or ("mkldnn" if mkldnn else "mxnet")
        if backend not in BACKENDS:
            raise BadInput("unknown backend %r; valid: %s" % (backend, ", ".join(BACKENDS)))
        self.timings = {}
        if backend == "auto":
            self._fastest(ctx, calib, batch_size)
        else:
            self._build(backend, ctx, calib)

    def _build(self, backend, ctx=None, calib=None):
        import mxnet as mx
        self.backend = backend
        self.ctx = list(ctx) if isinstance(ctx, (list, tuple)) else [ctx or mx.cpu()]
        self.session = self.net = None
        if backend == "onnxruntime":
            self.session = self._onnx_session()
            self.session_input = self.session.get_inputs()[0].name
            return
        from mxnet import gluon
        inp = self.meta["input"]
        check_params_digest(self.prefix, self.meta)
        try:
            with warnings.catch_warnings():  # imports cannot know the input's dtype until the first call
                warnings.filterwarnings("ignore", "Cannot decide type")
                self.net = gluon.SymbolBlock.imports(self.prefix + "-symbol.json", [inp["name"]],
                                                     self.prefix + "-0000.params", ctx=self.ctx)
        except (mx.base.MXNetError, AssertionError, ValueError, KeyError) as e:
            raise BadModelFile("%s-symbol.json with %s-0000.params cannot be loaded (%s): a file is cut short, "
                               "damaged or of another network; export the model again"
                               % (self.prefix, self.prefix, brief(e)))
        probe = mx.nd.zeros(tuple(inp["shape"]), ctx=self.ctx[0])
        if backend == "mkldnn":
            self.net.optimize_for(probe, backend="MKLDNN")
        elif backend == "int8":
            self.net = self._quantized(calib)
        self.net.hybridize(static_alloc=True)

    def _onnx_session(self):
        """An ONNX Runtime session of ``prefix.onnx``, once the file has proved it was converted from this
        export's params (its metadata's digest equals the meta's, which equals the params file's)."""
        import onnxruntime as ort
        path = self.prefix + ".onnx"
        if not os.path.exists(path):
            raise MissingFile("%s not found: write it with python train/export.py RUN_DIR --onnx (or --onnx_of %s)"
                              % (path, self.prefix))
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")  # no core spun between calls
        try:
            session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime's own error classes (InvalidProtobuf, Fail, ...) share no base
            raise BadModelFile("%s cannot be loaded by ONNX Runtime (%s); write it again with python "
                               "train/export.py --onnx_of %s" % (path, brief(e), self.prefix))
        own = session.get_modelmeta().custom_metadata_map.get(PARAMS_DIGEST)
        want = self.meta.get(PARAMS_DIGEST)
        if own is None or want is None or own != want:
            raise BadModelFile("%s was not converted from this export's weights (%s: the ONNX file's %s, "
                               "%s-meta.json's %s): it is stale or of another export; write it again with python "
                               "train/export.py --onnx_of %s" % (path, PARAMS_DIGEST, (own or "none")[:12],
                                                                 self.prefix, (want or "none")[:12], self.prefix))
        check_params_digest(self.prefix, self.meta)
        return session

    def _quantized(self, calib):
        """The network quantized to int8 by MXNet (MKLDNN), its ranges calibrated on ``calib``."""
        import logging

        import mxnet as mx
        from mxnet.contrib import quantization
        if calib is None or not len(calib):
            raise BadInput("the int8 backend needs calibration inputs (--calib ARCHIVE)")
        calib = np.asarray(calib, np.float32)
        name = self.meta["input"]["name"]
        batch = min(len(calib), 32)
        data = mx.io.NDArrayIter(data={name: calib}, batch_size=batch, last_batch_handle="discard")
        quiet = logging.getLogger("int8_calibration")
        quiet.setLevel(logging.WARNING)
        with open(self.prefix + "-symbol.json") as f:
            nodes = json.load(f)["nodes"]
        def member(name):  # "m0_", "m1_", ... in an ensemble export; "" for a single network's layers
            found = ENSEMBLE_MEMBER.match(name)
            return found.group(0) if found else ""

        firsts = {}  # the first convolution of the network, or of each ensemble member
        for n in nodes:
            if n["op"] == "Convolution":
                firsts.setdefault(member(n["name"]), n["name"])
        keep_float = list(firsts.values()) + [n["name"] for n in nodes if n["op"] in INT8_FLOAT_OPS]
        if any(firsts):  # an ensemble: its own layers (the mean of the members' outputs)
            keep_float += [n["name"] for n in nodes if n["op"] != "null" and not member(n["name"])]
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Cannot decide type")
            return quantization.quantize_net_v2(self.net, quantized_dtype="auto", calib_mode=INT8_CALIB_MODE,
                                                calib_data=data, num_calib_examples=len(calib) // batch * batch,
                                                ctx=mx.cpu(), data_shapes=data.provide_data,
                                                exclude_layers=keep_float, logger=quiet)

    def _fastest(self, ctx, calib, batch_size):
        """Build and time each backend that can be built here at ``batch_size``; keep the fastest one built."""
        import time
        x = np.random.default_rng(0).uniform(0, 255, (batch_size,) + tuple(self.meta["input"]["shape"][1:]))
        x = x.astype(np.float32)
        best, kept = None, None
        for backend in BACKENDS[:-1]:
            try:
                self._build(backend, ctx, calib)
                self._run_backend(x)
                start = time.perf_counter()
                for _ in range(AUTO_REPEATS):
                    self._run_backend(x)
                self.timings[backend] = round(1000 * (time.perf_counter() - start) / AUTO_REPEATS, 3)
            except Exception as e:  # any backend that cannot build or run here is left out, with its reason
                self.timings[backend] = "unavailable: %s" % brief(e)
                continue
            if best is None or self.timings[backend] < self.timings[best]:
                best, kept = backend, dict(self.__dict__)
        if kept is None:
            raise BadModelFile("%s: no backend could run it (%s)" % (self.prefix, "; ".join(
                "%s: %s" % kv for kv in self.timings.items())))
        self.__dict__.update(kept)  # the fastest as it was built and timed (int8 is not quantized twice)

    def raw(self, batch):
        """Network outputs (list of numpy arrays) for a (N, C, H, W) batch of raw pixels."""
        x = np.asarray(batch, dtype=np.float32)
        out = self._flip_averaged(x)
        if self.upright is None or not len(x):
            return out
        points = out[0].reshape(len(x), -1, 2) * [self.width, self.height]
        roll = headpose.roll_from_points(points, self.meta["schema"])
        turn = np.flatnonzero(np.abs(roll) > self.upright)
        if not len(turn):
            return out
        centre = (self.width / 2.0, self.height / 2.0)
        ups = [geometry.similarity_affine(centre, -roll[i], 1.0) for i in turn]
        again = self._flip_averaged(np.stack([geometry.warp(x[i].transpose(1, 2, 0), A, self.width, self.height)
                                              .reshape(self.height, self.width, -1).transpose(2, 0, 1)
                                              for i, A in zip(turn, ups)]))
        back = [geometry.invert_affine(A) for A in ups]
        turned = geometry.apply_affines(np.stack(back), again[0].reshape(len(turn), -1, 2) * [self.width, self.height])
        out = [o.copy() for o in out]
        out[0][turn] = (turned / [self.width, self.height]).reshape(len(turn), -1)
        for o, a in zip(out[1:], again[1:]):
            o[turn] = a
        return out

    def _flip_averaged(self, x):
        """Network outputs for a float32 batch, averaged with the mirrored batch's when flip is on."""
        out = self._run_backend(x)
        if self.flip_perm is None:
            return out
        mirrored = self._run_backend(np.ascontiguousarray(x[..., ::-1]))
        # the mirror's points flipped back (its left eye is our right eye); shares of the side: x -> 1 - x
        pts = geometry.flip_points(mirrored[0].reshape(len(x), -1, 2), 1.0, self.flip_perm)
        return [0.5 * (out[0] + pts.reshape(len(x), -1))] + [0.5 * (a + b) for a, b in zip(out[1:], mirrored[1:])]

    def _run_backend(self, x):
        if self.session is not None:
            return list(self.session.run(None, {self.session_input: x}))
        import mxnet as mx
        return self._run(mx.nd.array(x))

    def _run(self, x):
        from mxnet import gluon
        parts = gluon.utils.split_and_load(x, self.ctx, even_split=False) if len(self.ctx) > 1 else \
            [x.as_in_context(self.ctx[0])]
        outs = [self.net(p) for p in parts]
        outs = [o if isinstance(o, (list, tuple)) else [o] for o in outs]
        return [np.concatenate([o[k].asnumpy() for o in outs]) for k in range(len(outs[0]))]

    def __call__(self, batch):
        """Named outputs; landmarks come back as (N, K, 2) crop pixels."""
        outs = dict(zip(self.output_names, self.raw(batch)))
        if "landmarks" in outs:
            outs["landmarks"] = outs["landmarks"].reshape(len(outs["landmarks"]), -1, 2) * self.size
        if "face_prob" in outs:
            outs["face_prob"] = outs["face_prob"][:, 1]
        return outs

    def crops(self, img, boxes):
        """The model's inputs for face ``boxes`` (annotators' convention, photo px) of one photo, cut by the crop
        recipe it was trained with (its meta's ``crop``), and the affines taking crop px back to photo px."""
        h, w = img.shape[:2]
        inputs, to_photo = [], []
        for box in boxes:
            cb = geometry.crop_box_from_recipe(box, (w, h), self.meta.get("crop"))
            A = geometry.box_to_crop_affine(cb, self.size, self.size)
            inputs.append(self.prepare(geometry.warp(img, A, self.size, self.size)))
            to_photo.append(geometry.invert_affine(A))
        return inputs, to_photo

    def prepare(self, crop):
        """An HxWx3 BGR (or HxW gray) crop of the model's input size to one (C, H, W) input."""
        import cv2
        if crop.shape[0] != self.height or crop.shape[1] != self.width:
            raise ValueError("crop is %dx%d, the model takes %dx%d" % (crop.shape[1], crop.shape[0], self.width,
                                                                       self.height))
        if crop.ndim == 2:
            crop = crop[:, :, None]
        if self.channels == 1 and crop.shape[2] == 3:
            crop = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)[:, :, None]
        elif self.channels == 3 and crop.shape[2] == 1:
            crop = np.repeat(crop, 3, axis=2)
        return crop.transpose(2, 0, 1)
