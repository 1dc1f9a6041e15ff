"""Inference from exported files only (``model-symbol.json``, ``model-0000.params``, ``model-meta.json``).

>>> p = Predictor("runs/c21/model")
>>> out = p(batch)          # batch: (N, C, S, S) raw pixels, uint8 or float
>>> out["landmarks"].shape  # (N, K, 2) in crop px of the S x S input
"""
import json
import os
import warnings

import numpy as np

from recordio import geometry


class Predictor:
    """An exported network.

    Parameters
    ----------
    prefix : path of the export without ``-symbol.json`` (e.g. ``RUN_DIR/model``).
    ctx : MXNet context or a list of them (default CPU); a batch is split across several.
    mkldnn : fuse the graph with MXNet's MKLDNN subgraph backend (CPU; several times faster at batch 1).
    flip : landmark models: also run the mirrored batch and average it back (mirrored points move back
        and swap left/right by the schema's flip permutation); twice the work for a steadier answer.
    """

    def __init__(self, prefix, ctx=None, mkldnn=False, flip=False):
        import mxnet as mx
        from mxnet import gluon
        if prefix.endswith("-symbol.json"):
            prefix = prefix[: -len("-symbol.json")]
        for suffix in ("-symbol.json", "-0000.params", "-meta.json"):
            if not os.path.exists(prefix + suffix):
                raise FileNotFoundError("%s%s not found: an export has -symbol.json, -0000.params and -meta.json"
                                        % (prefix, suffix))
        with open(prefix + "-meta.json") as f:
            self.meta = json.load(f)
        self.ctx = list(ctx) if isinstance(ctx, (list, tuple)) else [ctx or mx.cpu()]
        inp = self.meta["input"]
        self.channels, self.size = inp["shape"][1], inp["shape"][2]
        self.height, self.width = inp["shape"][2], inp["shape"][3]
        with warnings.catch_warnings():  # imports cannot know the input's dtype until the first call
            warnings.filterwarnings("ignore", "Cannot decide type")
            self.net = gluon.SymbolBlock.imports(prefix + "-symbol.json", [inp["name"]], prefix + "-0000.params",
                                                 ctx=self.ctx)
        if mkldnn:
            self.net.optimize_for(mx.nd.zeros(tuple(inp["shape"]), ctx=self.ctx[0]), backend="MKLDNN")
        self.net.hybridize(static_alloc=True)
        self.output_names = [o["name"] for o in self.meta["outputs"]]
        self.flip_perm = None
        if flip:
            if self.meta.get("task") != "landmarks":
                raise ValueError("flip averaging is for landmark models; %s is a %s model"
                                 % (prefix, self.meta.get("task")))
            from recordio.schema import get_schema
            self.flip_perm = get_schema(self.meta["schema"]).flip_perm

    def raw(self, batch):
        """Network outputs (list of numpy arrays) for a (N, C, S, S) batch of raw pixels."""
        import mxnet as mx
        x = mx.nd.array(np.asarray(batch, dtype=np.float32))
        out = self._run(x)
        if self.flip_perm is None:
            return out
        mirrored = self._run(mx.nd.flip(x, axis=3))
        # the mirror's points flipped back (its left eye is our right eye); shares of the side: x -> 1 - x
        pts = geometry.flip_points(mirrored[0].reshape(len(x), -1, 2), 1.0, self.flip_perm)
        return [0.5 * (out[0] + pts.reshape(len(x), -1))] + [0.5 * (a + b) for a, b in zip(out[1:], mirrored[1:])]

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
