"""Gaze networks.  Each takes raw pixels (N, C, H, W) in [0, 255] of an archive's image (tiled views
included) and returns a tuple; ``outputs`` names its items and their units.
"""
import math

import mxnet as mx
from mxnet.gluon import nn, rnn
from mxnet.gluon.block import HybridBlock

from recordio.geometry import DEG
from recordio.schema import GAZE360_FRAMES, MC4, mc4_tiles, tiles_size
from symbols.common import Normalize, ZooBackbones, conv_bn


def atan2(F, y, x):
    """atan2 from arctan (MXNet 1.x symbols have no arctan2): 2 atan(y / (hypot(x, y) + x))."""
    return 2 * F.arctan(y / (F.sqrt(x * x + y * y) + x + 1e-12))


class MC4Compose(HybridBlock):
    """Gaze from head and eye-in-head angles, in degrees (MC4's (lo, la)).

    ``g = R_y(head_lo) R_x(head_la) R_y(eye_lo) R_x(eye_la) (0, 0, -1)``,
    ``lo = atan2(-g_x, -g_z)``, ``la = asin(g_y)`` - the rotation of
    ``recordio.geometry.mc4_compose``, written in graph operators.
    """

    def hybrid_forward(self, F, head, eye):
        hlo, hla = F.split(head * DEG, num_outputs=2, axis=1)
        elo, ela = F.split(eye * DEG, num_outputs=2, axis=1)
        x, y, z = -F.sin(elo) * F.cos(ela), F.sin(ela), -F.cos(elo) * F.cos(ela)
        y, z = F.cos(hla) * y - F.sin(hla) * z, F.sin(hla) * y + F.cos(hla) * z
        x, z = F.cos(hlo) * x + F.sin(hlo) * z, -F.sin(hlo) * x + F.cos(hlo) * z
        lo = atan2(F, -x, -z)
        la = F.arcsin(F.clip(y, -1.0, 1.0))
        return F.concat(lo, la, dim=1) / DEG


def _backbone(name, prefix, owner):
    """Feature extractor (pretrained=False) ending in a flat vector; input channels are inferred.  A gluoncv
    backbone is kept on ``owner`` (``ZooBackbones``) for ImageNet weights."""
    from gluoncv.model_zoo import get_model as gcv_model
    feats = nn.HybridSequential(prefix=prefix)
    with feats.name_scope():
        if name == "resnext50":
            base = gcv_model("resnext50_32x4d", pretrained=False)
            owner._keep_zoo("resnext50_32x4d", base)
            feats.add(base.features, nn.Flatten())
        elif name in ("resnet18", "resnet34", "resnet50"):
            base = gcv_model(name + "_v1b", pretrained=False)
            owner._keep_zoo(name + "_v1b", base)
            for part in ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"):
                feats.add(getattr(base, part))
            feats.add(nn.GlobalAvgPool2D(), nn.Flatten())
        elif name == "small":  # a CPU-sized stand-in with the same interface
            for w in (16, 32, 64, 128):
                feats.add(conv_bn(w, 3, 2), conv_bn(w, 3))
            feats.add(nn.GlobalAvgPool2D(), nn.Flatten())
        else:
            raise ValueError("unknown backbone %r (resnext50, resnet18, resnet34, resnet50, small)" % name)
    return feats


class MC4GazeNet(HybridBlock, ZooBackbones):
    """The MC4 baseline: a face net on the head view and an eye net on an eye, composed into gaze.

    Input: the archive's tiled image (head square left, eyes stacked right),
    converted to gray by the transform: (N, 1, head, head + eye).  The face
    net sees the head view; the eye net, with ``eyes="one"`` (the source), the
    left eye tile, into which training puts either eye at random
    (``GazeTask``: ``swap_views``), or with ``eyes="both"`` both eye views as
    two channels (``mc4_gazenet_2eyes`` and the CPU stand-ins).  Each regresses
    (lo, la) in degrees; ``MC4Compose`` turns them into gaze.
    Outputs: head, eye, gaze, each (N, 2) degrees.
    """

    outputs = ("head", "eye", "gaze")
    deploy = {"keep": (0, 1, 2), "softmax": ()}

    def __init__(self, backbone="resnext50", head_size=224, eye_size=112, input_channels=1, norm="centre", eyes="one",
                 **kwargs):
        super().__init__(**kwargs)
        if eyes not in ("one", "both"):
            raise ValueError("unknown eyes %r (one, both)" % eyes)
        self.eyes = eyes
        self.head_size, self.eye_size = head_size, eye_size
        self.input_channels = input_channels
        self.tiles = {t["name"]: t for t in mc4_tiles(head_size, eye_size)}  # the one MC4 tile grid
        w, h = tiles_size(self.tiles.values())
        self.input_shape = (input_channels, h, w)
        with self.name_scope():
            self.norm = Normalize(norm, input_channels)
            self.face_net = _backbone(backbone, "face_", self)
            self.face_out = nn.Dense(2, prefix="face_out_")
            self.eye_net = _backbone(backbone, "eye_", self)
            self.eye_out = nn.Dense(2, prefix="eye_out_")
            self.compose = MC4Compose()

    def _view(self, F, x, name):
        t = self.tiles[name]
        return F.slice(x, begin=(None, None, t["y"], t["x"]), end=(None, None, t["y"] + t["h"], t["x"] + t["w"]))

    def hybrid_forward(self, F, x):
        x = self.norm(x)
        head, left, right = (self._view(F, x, name) for name in MC4.views)
        head_angles = self.face_out(self.face_net(head))
        eye_angles = self.eye_out(self.eye_net(left if self.eyes == "one" else F.concat(left, right, dim=1)))
        return head_angles, eye_angles, self.compose(head_angles, eye_angles)


class MobileFaceGaze(HybridBlock, ZooBackbones):
    """Mobile FaceGaze: the full-face spatial-weights network on a MobileNetV2 backbone.

    MobileNetV2 on 112x112 faces with its last convolution cut to 256 channels (a 4x4 map); three
    1x1 convolutions (256 and 256 with ReLU, then 1) score every map position and the scores weight
    every channel (the network learns which face regions matter); the weighted map, flattened
    (256 x 4 x 4), goes through two 512-wide layers with dropout to (pitch, yaw) in radians.  About
    4.4 M parameters at 112 px.

    ``head="source"`` (the default) is the source's code: the third convolution has a ReLU too, biases
    start at 0.1, 0.1 and 1 (weights N(0, 0.01), N(0, 0.01), N(0, 0.001)), the weighted map goes through
    a ReLU and dropout 0.5, and the two 512-wide layers are plain (Linear, ReLU, dropout 0.5); the output
    starts where the initialiser puts it.  The source starts from ImageNet weights (``--pretrained``).
    Its dropout on the weighted map is ``F.dropout(x, 0.5)``, which PyTorch applies at test time too:
    here it is a Dropout layer, off at inference (a source bug, fixed).

    ``head="softmax_bn"`` (``mobile_facegaze_sm``) is this project's variant for training from scratch:
    with the source's head from scratch the ReLU weight map went to 0 everywhere within an epoch (the
    quickest way to the mean-gaze answer) and the flattened 4096 -> 512 layer lost 95% of its units to
    dead ReLUs, so the map is a softmax over positions times their count (it can move attention, not
    switch the signal off), both 512-wide layers have batch norm before their ReLU, and the output starts
    at the training faces' mean gaze (``GazeTask.init_network``).
    """

    outputs = ("gaze",)
    deploy = {"keep": (0,), "softmax": ()}

    def __init__(self, input_size=112, input_channels=3, last_channels=256, feature=512, dropout=0.5, norm="centre",
                 head="source", **kwargs):
        super().__init__(**kwargs)
        from gluoncv.model_zoo import get_model as gcv_model
        if head not in ("source", "softmax_bn"):
            raise ValueError("unknown Mobile FaceGaze head %r (source, softmax_bn)" % head)
        self.head = head
        self.starts_at_mean = head == "softmax_bn"
        self.input_shape = (input_channels, input_size, input_size)
        self.input_channels = input_channels
        base = gcv_model("mobilenetv2_1.0", pretrained=False)
        self._keep_zoo("mobilenetv2_1.0", base)
        source = head == "source"
        with self.name_scope():
            self.norm = Normalize(norm, input_channels)
            self.features = nn.HybridSequential(prefix="")
            for layer in list(base.features)[:-4]:  # drop the 1x1 conv to 1280, its BN, ReLU6 and the pooling
                self.features.add(layer)
            self.last = conv_bn(last_channels, 1, act="relu6", prefix="last_")
            self.weights = nn.HybridSequential(prefix="spatial_")
            with self.weights.name_scope():
                small = mx.init.Normal(0.01)
                self.weights.add(nn.Conv2D(last_channels, 1, activation="relu", weight_initializer=small,
                                           bias_initializer=mx.init.Constant(0.1)),
                                 nn.Conv2D(last_channels, 1, activation="relu", weight_initializer=small,
                                           bias_initializer=mx.init.Constant(0.1)),
                                 nn.Conv2D(1, 1, activation="relu" if source else None,
                                           weight_initializer=mx.init.Normal(0.001),
                                           bias_initializer=mx.init.Constant(1.0 if source else 0.0)))
            self.drop = nn.Dropout(dropout)
            self.fc = nn.HybridSequential(prefix="fc_")
            with self.fc.name_scope():
                for _ in range(2):
                    if source:
                        self.fc.add(nn.Dense(feature, activation="relu"), nn.Dropout(dropout))
                    else:
                        self.fc.add(nn.Dense(feature, use_bias=False), nn.BatchNorm(), nn.Activation("relu"),
                                    nn.Dropout(dropout))
                self.fc.add(nn.Dense(2))

    def spatial_weight(self, F, f):
        """(N, 1, h, w) weights of the map positions: the source's ReLU map, or a softmax over positions
        times their count (mean 1)."""
        logits = self.weights(f)
        if self.head == "source":
            return logits
        flat = F.reshape(logits, (0, -1))
        count = F.sum(F.ones_like(flat), axis=-1, keepdims=True)
        return F.reshape_like(F.broadcast_mul(F.softmax(flat, axis=-1), count), logits)

    def hybrid_forward(self, F, x):
        f = self.last(self.features(self.norm(x)))
        weighted = F.broadcast_mul(f, self.spatial_weight(F, f))
        if self.head == "source":
            weighted = F.relu(weighted)
        return (self.fc(self.drop(weighted)),)


class Gaze360Net(HybridBlock, ZooBackbones):
    """Gaze360: ResNet-18 per frame to a 256-wide feature, two stacked bidirectional LSTM layers over the
    7 frames (1 layer each, so the export loads back and converts), the centre step to
    yaw in (-pi, pi), pitch in (-pi/2, pi/2) and an uncertainty sigma in (0, pi).

    ``frame_head``: how a frame's pooled 512 features become its 256: ``"source"`` as the source's code
    (its ResNet-18 keeps a 1000-wide layer with ReLU, ``fc1``, and adds ``fc2``, 1000 -> 256 without
    activation); ``"relu256"`` one 512 -> 256 layer with ReLU (this project's first reading, 0.64 M
    parameters fewer).
    ``frames=1`` is ``gaze360_static``: the centre frame alone, no LSTM.
    Input: the archive's tiled frames (N, 3, S, 7 S).  Output: (N, 3) yaw, pitch, sigma (radians).
    """

    outputs = ("gaze",)
    deploy = {"keep": (0,), "softmax": ()}

    def __init__(self, frames=GAZE360_FRAMES, tile_frames=GAZE360_FRAMES, input_size=112, input_channels=3,
                 backbone="resnet18", feature=256, hidden=256, norm="centre", frame_head="source", **kwargs):
        super().__init__(**kwargs)
        self.frames, self.tile_frames, self.size, self.feature = frames, tile_frames, input_size, feature
        self.input_channels = input_channels
        self.input_shape = (input_channels, input_size, input_size * tile_frames)
        with self.name_scope():
            self.norm = Normalize(norm, input_channels)
            self.backbone = _backbone(backbone, "frame_", self)
            if frame_head == "source":
                self.embed = nn.HybridSequential(prefix="")
                self.embed.add(nn.Dense(1000, activation="relu", prefix="fc1_"), nn.Dense(feature, prefix="fc2_"))
            elif frame_head == "relu256":
                self.embed = nn.Dense(feature, activation="relu", prefix="embed_")
            else:
                raise ValueError("unknown frame_head %r (source, relu256)" % frame_head)
            if frames > 1:
                self.lstm1 = rnn.LSTM(hidden, num_layers=1, layout="NTC", bidirectional=True, prefix="lstm1_")
                self.lstm2 = rnn.LSTM(hidden, num_layers=1, layout="NTC", bidirectional=True, prefix="lstm2_")
            self.out = nn.Dense(3, prefix="out_")
            # sigma's calibration factor (not trained): 1 while training, then set on the validation split
            # so that pred +- sigma covers the truth as often as the 10-90% interval should
            self.sigma_scale = self.params.get("sigma_scale", shape=(1,), init=mx.init.One(), grad_req="null",
                                               differentiable=False)

    def hybrid_forward(self, F, x, sigma_scale):
        s, t, n = self.size, self.tile_frames, self.frames
        x = self.norm(x)
        if n == 1:
            centre = t // 2
            frame = F.slice(x, begin=(None, None, 0, centre * s), end=(None, None, s, (centre + 1) * s))
            feat = self.embed(self.backbone(frame))
        else:
            c = self.input_channels
            seq = F.reshape(x, (-1, c, s, t, s))  # (N, C, S, T, S)
            seq = F.transpose(seq, (0, 3, 1, 2, 4))  # (N, T, C, S, S)
            frames = F.reshape(seq, (-1, c, s, s))
            feat = self.embed(self.backbone(frames))  # (N*T, F)
            feat = F.reshape(feat, (-1, t, self.feature))  # (N, T, F); plain sizes, which ONNX's Reshape takes
            feat = self.lstm2(self.lstm1(feat))  # (N, T, 2H)
            feat = F.squeeze(F.slice_axis(feat, axis=1, begin=t // 2, end=t // 2 + 1), axis=1)
        raw = self.out(feat)
        yaw, pitch, sig = F.split(raw, num_outputs=3, axis=1)
        sigma = F.minimum(F.broadcast_mul(math.pi * F.sigmoid(sig), sigma_scale), math.pi)
        return (F.concat(math.pi * F.tanh(yaw), 0.5 * math.pi * F.tanh(pitch), sigma, dim=1),)



class LandmarkGaze(HybridBlock):
    """Gaze from the landmark network's features: the course's stage-3 heatmap CNN (``course_stage3_cnn_hm``,
    the shipped landmark model's member) up to its 32 x 32 map before the point heatmaps, where the eye
    centres and corners are found, then a small gaze head (three stride-2 3x3 convolutions to a 4 x 4 map,
    joined with the trunk's own 4 x 4 features, one 256-wide layer, (pitch, yaw) in radians).

    Not one of the five source systems: an option for data too small to learn a face network from scratch
    (the 1074 real faces of ``course21_gaze.sh``), started from a landmark model learnt from real faces with
    ``tools/landmark_init.py``.  The input is the view in BGR (as every gaze network takes it), turned to gray
    as OpenCV does (the landmark network's input).
    """

    outputs = ("gaze",)
    deploy = {"keep": (0,), "softmax": ()}
    GRAY_BGR = (0.114, 0.587, 0.299)  # cv2.COLOR_BGR2GRAY

    def __init__(self, input_size=112, input_channels=3, dropout=0.3, width=64, **kwargs):
        super().__init__(**kwargs)
        from symbols.landmarks import CourseCNN
        self.input_shape = (input_channels, input_size, input_size)
        self.input_channels = input_channels
        with self.name_scope():
            lmk = CourseCNN(num_points=21, width=2.0, bn=True, head="integral", input_size=input_size,
                            input_channels=1, prefix="coursecnn0_")
            # its normalisation, trunk and upsampling layers (not the heatmaps nor their integral), whose
            # parameter names end as the landmark model's do
            self.norm, self.trunk = lmk.norm, lmk.trunk
            self.up = nn.HybridSequential(prefix="")
            for layer in list(lmk.head)[:-2]:
                self.up.add(layer)
            self.down = nn.HybridSequential(prefix="down_")
            with self.down.name_scope():
                for _ in range(3):  # 32 -> 16 -> 8 -> 4
                    self.down.add(conv_bn(width, 3, 2, act="relu"))
            self.fc = nn.HybridSequential(prefix="fc_")
            with self.fc.name_scope():
                self.fc.add(nn.Dense(256, use_bias=False), nn.BatchNorm(), nn.Activation("relu"),
                            nn.Dropout(dropout), nn.Dense(2))

    def gray(self, F, x):
        if self.input_channels == 1:
            return x
        b, g, r = F.split(x, num_outputs=3, axis=1)
        wb, wg, wr = self.GRAY_BGR
        return b * wb + g * wg + r * wr

    def hybrid_forward(self, F, x):
        t = self.trunk(self.norm(self.gray(F, x)))
        d = self.down(self.up(t))
        f = F.concat(F.flatten(t), F.flatten(d), dim=1)
        return (self.fc(f),)
