"""Building blocks shared by the networks, and ImageNet weights for their gluoncv backbones."""
import os

import numpy as np
from mxnet.gluon import nn
from mxnet.gluon.block import HybridBlock

PIXEL_MEAN = 127.5  # inputs are raw pixels in [0, 255]; networks centre and scale them themselves
PIXEL_SCALE = 1.0 / 128.0
IMAGENET_MEAN_RGB = (0.485, 0.456, 0.406)  # what gluoncv's ImageNet weights expect of RGB pixels in [0, 1]
IMAGENET_STD_RGB = (0.229, 0.224, 0.225)


class Normalize(HybridBlock):
    """Raw pixels (N, C, H, W) BGR (or gray) in [0, 255] to what the network's weights expect: the network owns
    its normalisation.

    ``mode='centre'``: (x - 127.5) / 128, about [-1, 1] (networks trained from scratch).
    ``mode='imagenet'``: the input of gluoncv's ImageNet weights: BGR turned to RGB, x / 255, minus the
    ImageNet mean, over its std (gray input: the mean and std averaged over the three channels).
    """

    def __init__(self, mode="centre", channels=3, **kwargs):
        super().__init__(**kwargs)
        if mode not in ("centre", "imagenet"):
            raise ValueError("unknown normalisation %r (centre, imagenet)" % mode)
        self.mode, self.channels = mode, channels
        if mode == "imagenet":
            mean = np.array(IMAGENET_MEAN_RGB[::-1]) * 255.0  # BGR order, pixel units
            std = np.array(IMAGENET_STD_RGB[::-1]) * 255.0
            if channels == 1:
                mean, std = mean.mean(keepdims=True), std.mean(keepdims=True)
            self._mean, self._scale = tuple(mean.tolist()), tuple((1.0 / std).tolist())

    def hybrid_forward(self, F, x):
        if self.mode == "centre":
            return (x - PIXEL_MEAN) * PIXEL_SCALE
        parts = F.split(x, num_outputs=self.channels, axis=1) if self.channels > 1 else [x]
        scaled = [(p - m) * s for p, m, s in zip(parts, self._mean, self._scale)]
        return F.concat(*scaled[::-1], dim=1) if self.channels > 1 else scaled[0]  # BGR -> RGB


def norm_mode(pretrained):
    """The normalisation a network takes: ImageNet's when it starts from ImageNet weights."""
    return "imagenet" if pretrained else "centre"


class ZooBackbones:
    """Mixin of networks built from gluoncv backbones (``pretrained=False``): ``_zoo_params`` lists (zoo name,
    {the name gluoncv's parameter file gives each array: the Parameter our network shares}) so that
    ``load_imagenet`` can fill them."""

    def _keep_zoo(self, name, base):
        zoo = self.__dict__.setdefault("_zoo_params", [])
        zoo.append((name, dict(base._collect_params_with_prefix())))

    def _zoo_base(self, backbone):
        """The gluoncv network of ``backbone`` (a key of the class's ``ZOO``), untrained, kept for ImageNet
        loading."""
        from gluoncv.model_zoo import get_model as gcv_model
        if backbone not in self.ZOO:
            raise ValueError("unknown backbone %r (%s)" % (backbone, ", ".join(self.ZOO)))
        base = gcv_model(self.ZOO[backbone], pretrained=False)
        self._keep_zoo(self.ZOO[backbone], base)
        return base


def zoo_file(name, where=None):
    """The ImageNet parameter file of gluoncv's model ``name``: ``where`` if it is a file, else in the model
    store ``where`` (default gluoncv's: $MXNET_HOME/models or ~/.mxnet/models) as gluoncv names it."""
    from gluoncv.model_zoo.model_store import short_hash
    if where and os.path.isfile(where):
        return where
    root = where or os.path.join(os.environ.get("MXNET_HOME", os.path.join("~", ".mxnet")), "models")
    return os.path.join(os.path.expanduser(root), "%s-%s.params" % (name, short_hash(name)))


def load_imagenet(net, where=None):
    """Fill ``net``'s gluoncv backbones with ImageNet weights from local files (nothing is downloaded).

    ``net`` must be initialised with its shapes known (one forward pass).  A backbone whose first
    convolution takes gray views (one, or MC4's two eyes) gets the RGB filters summed over their channels
    and shared among the views.
    Returns {zoo name: number of arrays loaded}; stops with a message naming the file expected when
    it is missing.
    """
    import mxnet as mx
    bases = getattr(net, "_zoo_params", [])
    if not bases:
        raise SystemExit("error: %s has no ImageNet backbone to start from (networks with one: the "
                         "*_resnet18 and *_mobilenetv2 landmark nets, mc4_gazenet*, mobile_facegaze, gaze360_*)"
                         % type(net).__name__)
    ours = {id(p) for p in net.collect_params().values()}
    loaded = {}
    for name, params in bases:
        path = zoo_file(name, where)
        if not os.path.isfile(path):
            raise SystemExit("error: --pretrained: the ImageNet weights of %s are expected at %s, which does not "
                             "exist; nothing is downloaded here: copy gluoncv's file there (or pass --pretrained "
                             "with its path or the folder holding it)" % (name, path))
        saved = mx.nd.load(path)
        count = 0
        for key, param in params.items():
            if id(param) not in ours or key not in saved:
                continue
            arr = saved[key]
            if arr.shape != param.shape:
                n = param.shape[1]
                if arr.ndim == 4 and arr.shape[1] == 3 and arr.shape[0] == param.shape[0] and n in (1, 2):
                    # gray views: the colour filters summed, shared among the views (equal views, same response)
                    arr = mx.nd.repeat(arr.sum(axis=1, keepdims=True) / n, repeats=n, axis=1)
                else:
                    raise SystemExit("error: %s: %s has shape %s, the network's %s" % (path, key, arr.shape,
                                                                                      param.shape))
            param.set_data(arr)
            count += 1
        if not count:
            raise SystemExit("error: %s holds none of %s's parameters (another network's file?)" % (path, name))
        loaded[name] = loaded.get(name, 0) + count
    return loaded


def conv_bn(channels, kernel, stride=1, pad=None, groups=1, act="relu", bn=True, prefix=None):
    """Conv2D, optional BatchNorm and an activation ('relu', 'relu6', 'prelu' or None)."""
    pad = kernel // 2 if pad is None else pad
    seq = nn.HybridSequential(prefix=prefix)
    with seq.name_scope():
        seq.add(nn.Conv2D(channels, kernel, stride, pad, groups=groups, use_bias=not bn))
        if bn:
            seq.add(nn.BatchNorm())
        if act == "prelu":
            seq.add(nn.PReLU())
        elif act == "relu6":
            seq.add(_ReLU6())
        elif act is not None:
            seq.add(nn.Activation(act))
    return seq


class _ReLU6(HybridBlock):
    def hybrid_forward(self, F, x):
        return F.clip(x, 0, 6)


class DeployBlock(HybridBlock):
    """The exported form of a network: only its deploy outputs, sharing the trained parameters.

    Parameters
    ----------
    net : a network whose forward returns a tuple of outputs (``net.deploy['decode']``, if set, names a child
        block its outputs go through first).
    keep : indices of the outputs to export.
    softmax : indices (into ``keep``) to turn from logits into probabilities.
    """

    def __init__(self, net, keep, softmax=(), **kwargs):
        super().__init__(**kwargs)
        self.net = net
        self.keep = tuple(keep)
        self.softmax = tuple(softmax)

    def hybrid_forward(self, F, x):
        outs = self.net(x)
        decode = self.net.deploy.get("decode")
        if decode:  # a detector's raw outputs, decoded by its own decoding block
            outs = getattr(self.net, decode)(*outs)
        kept = [outs[i] for i in self.keep]
        kept = [F.softmax(o, axis=-1) if j in self.softmax else o for j, o in enumerate(kept)]
        return kept[0] if len(kept) == 1 else tuple(kept)
