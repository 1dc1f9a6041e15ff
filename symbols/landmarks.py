"""Landmark networks.

Every network takes raw pixels (N, C, S, S) float32 in [0, 255] and returns a
tuple whose first item is the landmarks (N, 2K): x, y per point as a share of
the input side (crop px / S).  Attributes say what a trainer and an exporter
need: ``input_size``, ``input_channels``, ``num_points``, ``outputs`` (names of
the tuple's items) and ``deploy`` (which items to export, which to softmax).
"""
import math

import mxnet as mx
import numpy as np
from mxnet.gluon import nn
from mxnet.gluon.block import HybridBlock

from symbols.common import Normalize, ZooBackbones, conv_bn


class _LandmarkNet(HybridBlock):
    outputs = ("landmarks",)
    deploy = {"keep": (0,), "softmax": ()}

    def _init_meta(self, num_points, input_size, input_channels, face_head=False):
        self.num_points = num_points
        self.input_size = input_size
        self.input_channels = input_channels
        self.face_head = face_head
        if face_head:  # stage 3: face / non-face logits beside the landmarks; the export softmaxes them
            self.outputs = ("landmarks", "face_logits")
            self.deploy = {"keep": (0, 1), "softmax": (1,)}


class CellCentres(mx.init.Initializer):
    """Fills a (2, S*S) parameter with the x and the y of each cell centre of an S x S map (row-major), as shares
    of the map's side: ``((j + 0.5) / S, (i + 0.5) / S)``."""

    def _init_weight(self, name, arr):
        side = int(round(math.sqrt(arr.shape[1])))
        c = (np.arange(side) + 0.5) / side
        arr[:] = np.stack([np.tile(c, side), np.repeat(c, side)])

    _init_default = _init_weight


class IntegralHeatmap(HybridBlock):
    """Integral regression (soft-argmax): K square heatmaps (N, K, S, S) to (N, 2K) points as shares of the
    input side, each the expected cell centre under the softmax of its map.  The cell centres are a constant
    parameter sized when the map's size is first seen, so the graph is plain softmax and FullyConnected."""

    def __init__(self, num_points, **kwargs):
        super().__init__(**kwargs)
        self.num_points = num_points
        self.cells = self.params.get("cells", shape=(2, 0), init=CellCentres(), grad_req="null",
                                     differentiable=False, allow_deferred_init=True)

    def hybrid_forward(self, F, maps, cells):
        prob = F.softmax(F.reshape(maps, (-3, -1)), axis=-1)  # (N*K, S*S)
        xy = F.FullyConnected(prob, cells, num_hidden=2, no_bias=True)  # (N*K, 2)
        return F.reshape(xy, (-1, 2 * self.num_points))


class CourseCNN(_LandmarkNet):
    """The course's CNN: stage 1 exactly, and its stronger stage-2/3 forms.

    Stage 1 (``width=1, bn=False, dropout=0``), layer for layer: conv 8 k5 s2,
    avg-pool, conv 16, 16, avg-pool, conv 24, 24, avg-pool, conv 40, 80 (pad 1),
    FC 128, 128, 2K, PReLU throughout, 112x112 grayscale.  Stage 2 adds batch
    norm, ``width`` times the channels and dropout; ``face_head`` adds the
    stage-3 face / non-face branch (FC 128 -> 2) on the shared features.
    ``head='integral'`` replaces the dense landmark layers by three upsampling layers to one heatmap per point
    and integral regression (``IntegralHeatmap``), as the course suggests for stage 2.
    ``output='px'`` (``course_stage1``, ``course_stage2_cnn``): the last dense layer answers in input pixels, as
    the course's network does (its MSE and SGD rate are in those units), and starts where its initialiser puts
    it; the block hands on shares of the input side like every landmark network.  ``'share'``: the layer
    answers in shares and starts at the training faces' mean shape (``LandmarkTask.init_network``).
    ``fpn=True`` (``course_stage2_fpn``, the FPN option the course suggests for stage 2): a top-down pathway
    over the trunk's last two scales: 1x1 lateral convolutions of the 8 x 8 map (after the 24-channel
    convolutions) and the 4 x 4 map (the trunk's end) to 64 channels (times ``width``), the 4 x 4 one upsampled
    (nearest) and added to the 8 x 8 one, a 3x3 convolution; the dense head reads that merged map pooled to
    4 x 4 beside the 4 x 4 level.  (The course CNN's earlier map, 23 x 23, is no integer multiple of 8.)
    """

    def __init__(self, num_points=21, face_head=False, width=1.0, bn=False, dropout=0.0, input_size=112,
                 input_channels=1, head="dense", output="share", fpn=False, **kwargs):
        super().__init__(**kwargs)
        self._init_meta(num_points, input_size, input_channels, face_head)
        if head not in ("dense", "integral"):
            raise ValueError("unknown landmark head %r (dense, integral)" % head)
        if output not in ("share", "px") or (output == "px" and head != "dense"):
            raise ValueError("output %r: 'share', or 'px' with the dense head" % output)
        self.integral = head == "integral"
        self.px_scale = 1.0 / input_size if output == "px" else None
        self.starts_at_mean_shape = not self.integral and output == "share"

        def c(n):
            return int(round(n * width))

        def conv(n, k, stride=1, pad=0):
            return conv_bn(c(n), k, stride, pad=pad, act="prelu", bn=bn)

        with self.name_scope():
            self.norm = Normalize()
            self.trunk = nn.HybridSequential(prefix="trunk_")
            with self.trunk.name_scope():
                t = self.trunk
                t.add(conv(8, 5, 2), nn.AvgPool2D(2, 2, ceil_mode=True))
                t.add(conv(16, 3), conv(16, 3), nn.AvgPool2D(2, 2, ceil_mode=True))
                t.add(conv(24, 3), conv(24, 3), nn.AvgPool2D(2, 2, ceil_mode=True))
                t.add(conv(40, 3, pad=1), conv(80, 3, pad=1))
                if not self.integral and not fpn:
                    t.add(nn.Flatten())
            self.fpn = None
            if fpn:
                if self.integral:
                    raise ValueError("fpn is for the dense head")
                self.fpn = nn.HybridSequential(prefix="fpn_")
                with self.fpn.name_scope():  # lateral 8 x 8, lateral 4 x 4, the merged map's 3x3
                    self.fpn.add(conv_bn(c(64), 1, act=None, bn=bn), conv_bn(c(64), 1, act=None, bn=bn),
                                 conv(64, 3, pad=1))
            self.head = nn.HybridSequential(prefix="lmk_")
            with self.head.name_scope():
                if self.integral:
                    for channels in (c(64), c(32), c(32)):  # the 4 x 4 map to 32 x 32 heatmaps
                        self.head.add(conv_bn(channels, 1, act="prelu", bn=bn),
                                      nn.Conv2DTranspose(channels, 4, 2, 1, use_bias=not bn))
                    self.head.add(nn.Conv2D(num_points, 1), IntegralHeatmap(num_points, prefix="integral_"))
                else:
                    self.head.add(nn.Dense(c(128)), nn.PReLU())
                    if dropout:
                        self.head.add(nn.Dropout(dropout))
                    self.head.add(nn.Dense(c(128)), nn.PReLU(), nn.Dense(2 * num_points))
            if face_head:
                self.cls = nn.HybridSequential(prefix="cls_")
                with self.cls.name_scope():
                    self.cls.add(nn.Dense(128), nn.PReLU(), nn.Dense(2))  # Dense flattens the map itself

    FPN_SPLIT = 7  # the trunk's layers up to its 8 x 8 map (conv 8, pool, conv 16 x 2, pool, conv 24 x 2)

    def features(self, F, x):
        if self.fpn is None:
            return self.trunk(x)
        layers = list(self.trunk._children.values())
        c4 = x
        for layer in layers[:self.FPN_SPLIT]:
            c4 = layer(c4)
        c5 = c4
        for layer in layers[self.FPN_SPLIT:]:
            c5 = layer(c5)
        lat4, lat5, smooth = self.fpn._children.values()
        top = lat5(c5)
        merged = smooth(lat4(c4) + F.UpSampling(top, scale=2, sample_type="nearest"))
        return F.concat(F.flatten(F.Pooling(merged, kernel=(2, 2), stride=(2, 2), pool_type="avg")),
                        F.flatten(top), dim=1)

    def hybrid_forward(self, F, x):
        f = self.features(F, self.norm(x))
        points = self.head(f) if self.px_scale is None else self.head(f) * self.px_scale
        if self.face_head:
            return points, self.cls(f)
        return (points,)


class BaseRegressor(_LandmarkNet):
    """The seed article's BASE network, as its code builds it: eight 3x3 convolutions with padding 1 of 16, 32,
    32, 32, 32, 64, 64 and 128 channels, stride 2 at the first, third, fifth and seventh, each followed by
    BatchNorm and ReLU; one 2x2 max-pool; flatten (128 x 3 x 3 = 1152 at 112 px); a dense layer of 512
    without activation and the dense output of 2K."""

    WIDTHS = (16, 32, 32, 32, 32, 64, 64, 128)

    def __init__(self, num_points=98, input_size=112, input_channels=3, **kwargs):
        super().__init__(**kwargs)
        self._init_meta(num_points, input_size, input_channels)
        with self.name_scope():
            self.norm = Normalize()
            self.body = nn.HybridSequential(prefix="body_")
            with self.body.name_scope():
                for k, w in enumerate(self.WIDTHS):
                    self.body.add(nn.Conv2D(w, 3, 2 if k % 2 == 0 else 1, 1), nn.BatchNorm(), nn.Activation("relu"))
                self.body.add(nn.MaxPool2D(2, 2), nn.Flatten(), nn.Dense(512), nn.Dense(2 * num_points))

    def hybrid_forward(self, F, x):
        return (self.body(self.norm(x)),)


class PlainRegressor(_LandmarkNet):
    """A plain regressor: conv/BN/ReLU pairs of 32, 64, 128, 256 channels with max-pools, flatten, dense 512
    with ReLU, dense 2K."""

    def __init__(self, num_points=98, input_size=112, input_channels=3, widths=(32, 64, 128, 256), **kwargs):
        super().__init__(**kwargs)
        self._init_meta(num_points, input_size, input_channels)
        with self.name_scope():
            self.norm = Normalize()
            self.body = nn.HybridSequential(prefix="body_")
            with self.body.name_scope():
                for w in widths:
                    self.body.add(conv_bn(w, 3), conv_bn(w, 3), nn.MaxPool2D(2, 2))
                self.body.add(nn.Flatten(), nn.Dense(512), nn.Activation("relu"), nn.Dense(2 * num_points))

    def hybrid_forward(self, F, x):
        return (self.body(self.norm(x)),)


class BackboneRegressor(_LandmarkNet, ZooBackbones):
    """A gluoncv backbone (``pretrained=False``) with a landmark head, and optionally a face head.

    backbone : 'resnet18' (ResNetV1b) or 'mobilenetv2' (width 1.0; 'mobilenetv2_0.75', 'mobilenetv2_0.5' the
    narrower ones); all adapt to 1-channel input by deferred initialisation.
    norm : 'centre', or 'imagenet' for a network that starts from ImageNet weights (``load_imagenet``).
    """

    ZOO = {"resnet18": "resnet18_v1b", "mobilenetv2": "mobilenetv2_1.0", "mobilenetv2_0.75": "mobilenetv2_0.75",
           "mobilenetv2_0.5": "mobilenetv2_0.5"}

    def __init__(self, backbone="resnet18", num_points=21, face_head=False, input_size=112, input_channels=1,
                 dropout=0.1, norm="centre", **kwargs):
        super().__init__(**kwargs)
        self._init_meta(num_points, input_size, input_channels, face_head)
        base = self._zoo_base(backbone)
        with self.name_scope():
            self.norm = Normalize(norm, input_channels)
            if backbone == "resnet18":
                self.features = nn.HybridSequential(prefix="")
                for name in ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"):
                    self.features.add(getattr(base, name))
                self.features.add(nn.GlobalAvgPool2D(), nn.Flatten())
            else:
                self.features = nn.HybridSequential(prefix="")
                self.features.add(base.features, nn.Flatten())
            self.drop = nn.Dropout(dropout) if dropout else None
            self.head = nn.Dense(2 * num_points, prefix="lmk_")
            if face_head:
                self.cls = nn.HybridSequential(prefix="cls_")
                with self.cls.name_scope():
                    self.cls.add(nn.Dense(128), nn.Activation("relu"), nn.Dense(2))

    def hybrid_forward(self, F, x):
        f = self.features(self.norm(x))
        lmk = self.head(self.drop(f) if self.drop is not None else f)
        if self.face_head:
            return lmk, self.cls(f)
        return (lmk,)


class HeatmapRegressor(_LandmarkNet, ZooBackbones):
    """A gluoncv backbone to its stride-32 map, ``deconv`` upsampling layers (4x4, stride 2, batch norm, ReLU)
    to one heatmap per point, and integral regression (``IntegralHeatmap``) to the points; optionally the
    stage-3 face head on the pooled trunk.  The course's suggestion for stage 2: a heatmap keeps the spatial
    layout that a dense layer throws away.  112 px input gives 32 x 32 heatmaps with three upsamplings."""

    ZOO = BackboneRegressor.ZOO
    starts_at_mean_shape = False  # no dense output layer to start at the mean shape

    def __init__(self, backbone="resnet18", num_points=21, face_head=False, input_size=112, input_channels=1,
                 deconv=(128, 128, 128), norm="centre", **kwargs):
        super().__init__(**kwargs)
        self._init_meta(num_points, input_size, input_channels, face_head)
        base = self._zoo_base(backbone)
        with self.name_scope():
            self.norm = Normalize(norm, input_channels)
            self.features = nn.HybridSequential(prefix="")
            if backbone == "resnet18":
                for name in ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"):
                    self.features.add(getattr(base, name))
            else:
                for layer in list(base.features)[:20]:  # to the 320-channel bottleneck, stride 32
                    self.features.add(layer)
            self.up = nn.HybridSequential(prefix="up_")
            with self.up.name_scope():
                for channels in deconv:
                    self.up.add(nn.Conv2DTranspose(channels, 4, 2, 1, use_bias=False), nn.BatchNorm(),
                                nn.Activation("relu"))
            self.maps = nn.Conv2D(num_points, 1, prefix="maps_")
            self.integral = IntegralHeatmap(num_points, prefix="integral_")
            if face_head:
                self.cls = nn.HybridSequential(prefix="cls_")
                with self.cls.name_scope():
                    self.cls.add(nn.GlobalAvgPool2D(), nn.Flatten(), nn.Dense(128), nn.Activation("relu"),
                                 nn.Dense(2))

    def hybrid_forward(self, F, x):
        f = self.features(self.norm(x))
        lmk = self.integral(self.maps(self.up(f)))
        if self.face_head:
            return lmk, self.cls(f)
        return (lmk,)


class InvertedResidual(HybridBlock):
    """MobileNetV2 bottleneck: 1x1 expand, 3x3 depthwise, 1x1 project; residual when shapes match."""

    def __init__(self, in_channels, channels, stride, expand, **kwargs):
        super().__init__(**kwargs)
        self.use_res = stride == 1 and in_channels == channels
        hidden = in_channels * expand
        with self.name_scope():
            self.body = nn.HybridSequential(prefix="")
            self.body.add(conv_bn(hidden, 1, act="relu"), conv_bn(hidden, 3, stride, groups=hidden, act="relu"),
                          conv_bn(channels, 1, act=None))

    def hybrid_forward(self, F, x):
        y = self.body(x)
        return x + y if self.use_res else y


class PFLD(_LandmarkNet):
    """PFLD: a MobileNetV2-style backbone, multi-scale fusion, and an auxiliary pose head.

    The auxiliary head (training only) predicts pitch, yaw, roll in radians
    from the 28x28 stage; the export keeps only the landmarks.  ``width``
    scales every channel count (PFLD uses 0.25 and 1.0).
    """

    outputs = ("landmarks", "euler")
    deploy = {"keep": (0,), "softmax": ()}

    def __init__(self, num_points=98, width=1.0, input_size=112, input_channels=3, **kwargs):
        super().__init__(**kwargs)
        self._init_meta(num_points, input_size, input_channels)

        def ch(c):
            return max(8, int(round(c * width)))

        with self.name_scope():
            self.norm = Normalize()
            self.stem = nn.HybridSequential(prefix="stem_")
            with self.stem.name_scope():
                self.stem.add(conv_bn(ch(64), 3, 2), conv_bn(ch(64), 3, 1, groups=ch(64)))  # 56x56
            self.stage3 = nn.HybridSequential(prefix="s3_")
            with self.stage3.name_scope():
                self.stage3.add(InvertedResidual(ch(64), ch(64), 2, 2))  # 28x28
                for _ in range(4):
                    self.stage3.add(InvertedResidual(ch(64), ch(64), 1, 2))
            self.stage4 = nn.HybridSequential(prefix="s4_")
            with self.stage4.name_scope():
                self.stage4.add(InvertedResidual(ch(64), ch(128), 2, 2))  # 14x14
                for _ in range(6):
                    self.stage4.add(InvertedResidual(ch(128), ch(128), 1, 4))
                self.stage4.add(InvertedResidual(ch(128), ch(16), 1, 2))
            self.conv7 = conv_bn(ch(32), 3, 2, prefix="conv7_")  # 7x7
            self.conv8 = conv_bn(ch(128), 7, 1, pad=0, bn=False, prefix="conv8_")  # 1x1
            self.fc = nn.Dense(2 * num_points, prefix="lmk_")
            self.aux = nn.HybridSequential(prefix="aux_")
            with self.aux.name_scope():
                self.aux.add(conv_bn(ch(128), 3, 2), conv_bn(ch(128), 3, 1), conv_bn(ch(32), 3, 2),
                             conv_bn(ch(128), 7, 1, pad=0), nn.Flatten(), nn.Dense(32), nn.Activation("relu"),
                             nn.Dense(3))

    def hybrid_forward(self, F, x):
        x = self.stem(self.norm(x))
        s3 = self.stage3(x)
        s4 = self.stage4(s3)
        s7 = self.conv7(s4)
        s8 = self.conv8(s7)
        fused = F.concat(F.contrib.AdaptiveAvgPooling2D(s4, output_size=1).flatten(),
                         F.contrib.AdaptiveAvgPooling2D(s7, output_size=1).flatten(), s8.flatten(), dim=1)
        return self.fc(fused), self.aux(s3)
