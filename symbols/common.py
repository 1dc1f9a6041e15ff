"""Building blocks shared by the networks."""
from mxnet.gluon import nn
from mxnet.gluon.block import HybridBlock

PIXEL_MEAN = 127.5  # inputs are raw pixels in [0, 255]; networks centre and scale them themselves
PIXEL_SCALE = 1.0 / 128.0


class Normalize(HybridBlock):
    """Raw pixels (N, C, H, W) in [0, 255] to about [-1, 1]: the network owns its normalisation."""

    def hybrid_forward(self, F, x):
        return (x - PIXEL_MEAN) * PIXEL_SCALE


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
    net : a network whose forward returns a tuple of outputs.
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
        kept = [outs[i] for i in self.keep]
        kept = [F.softmax(o, axis=-1) if j in self.softmax else o for j, o in enumerate(kept)]
        return kept[0] if len(kept) == 1 else tuple(kept)
