import mxnet as mx
import numpy as np
import pytest
from mxnet.gluon import nn

from symbols import get_model, model_names
from train.losses import LandmarkLoss, MaskedFaceLoss, PFLDLoss


def _convs(block):
    out = []
    for child in block._children.values():
        if isinstance(child, nn.Conv2D):
            out.append((child._channels, child._kwargs["kernel"], child._kwargs["stride"]))
        else:
            out += _convs(child)
    return out


def test_course_stage1_is_the_course_cnn_layer_for_layer():
    net = get_model("course_stage1")
    net.initialize()
    assert [c for c, _, _ in _convs(net.trunk)] == [8, 16, 16, 24, 24, 40, 80]
    assert _convs(net.trunk)[0][1:] == ((5, 5), (2, 2))
    feat = net.trunk(mx.nd.zeros((1, 1, 112, 112)))
    assert feat.shape == (1, 80 * 4 * 4)
    dense = [c for c in net.head._children.values() if isinstance(c, nn.Dense)]
    assert [d._units for d in dense] == [128, 128, 42]
    assert _count(net.trunk, nn.PReLU) == 7 and _count(net.trunk, nn.BatchNorm) == 0


def _count(block, kind):
    return sum(isinstance(c, kind) + _count(c, kind) for c in block._children.values())


def test_stage2_cnn_is_stage1_with_batch_norm_and_twice_the_channels():
    net = get_model("course_stage3_cnn")
    assert [c for c, _, _ in _convs(net.trunk)] == [16, 32, 32, 48, 48, 80, 160]
    assert _count(net.trunk, nn.BatchNorm) == 7 and hasattr(net, "cls")


def test_get_model_lists_valid_names():
    with pytest.raises(ValueError, match="course_stage1.*pfld_0.25"):
        get_model("resnet1000")
    assert {"course_stage3", "pfld_1.0", "mc4_gazenet", "mobile_facegaze", "gaze360_lstm"} <= set(model_names())


def test_pfld_width_scales_the_network():
    sizes = {}
    for name in ("pfld_0.25", "pfld_1.0"):
        net = get_model(name)
        net.initialize()
        lmk, euler = net(mx.nd.zeros((1, 3, 112, 112)))
        assert lmk.shape == (1, 196) and euler.shape == (1, 3)
        sizes[name] = sum(p.data().size for p in net.collect_params().values())
    assert sizes["pfld_1.0"] > 8 * sizes["pfld_0.25"]


def test_huber_and_wing_hand_computed():
    p, t = mx.nd.array([[0.0, 0.0]]), mx.nd.array([[6 / 112, 0.0]])  # 6 px off in x, 0 in y
    np.testing.assert_allclose(LandmarkLoss("huber", 112, rho=5)(p, t).asnumpy(), [(6 - 2.5) / 2], rtol=1e-5)
    wing = 10 * np.log(1 + 6 / 2)
    np.testing.assert_allclose(LandmarkLoss("wing", 112)(p, t).asnumpy(), [wing / 2], rtol=1e-5)


def test_pfld_loss_keeps_faces_without_attributes_and_uses_radians():
    p = mx.nd.zeros((2, 2))
    t = mx.nd.array([[3 / 112, 0.0], [3 / 112, 0.0]])
    attrs = mx.nd.array([[0, 0, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0]])
    euler_gt = mx.nd.array([[30.0, 0, 0], [30.0, 0, 0]])  # degrees
    euler_pred = mx.nd.array([[np.radians(30.0), 0, 0], [np.radians(30.0), 0, 0]])  # radians, exact
    loss = PFLDLoss(112)(p, t, euler_pred, euler_gt, attrs).asnumpy()
    assert loss[0] == pytest.approx(9.0, rel=1e-4)  # no attribute, perfect pose: the plain squared error
    assert loss[1] == pytest.approx(9.0 * (1 + 2.0 / 6), rel=1e-4)  # pose attribute in half the batch: weight 2
    wing = PFLDLoss(112, base="wing")(p, t, euler_pred, euler_gt, attrs).asnumpy()
    assert wing[0] == pytest.approx(10 * np.log(1 + 3 / 2), rel=1e-4)  # Wing of the 3 px coordinate, same weights
    assert wing[1] / wing[0] == pytest.approx(loss[1] / loss[0], rel=1e-5)


def test_masked_loss_ignores_landmarks_of_non_faces():
    lmk = LandmarkLoss("l2", 112)
    pred = mx.nd.zeros((2, 2))
    far = mx.nd.array([[0.5, 0.5], [0.5, 0.5]])
    logits = mx.nd.array([[0.0, 9.0], [9.0, 0.0]])  # confident and right
    loss = MaskedFaceLoss(lmk)(pred, far, logits, mx.nd.array([1, 0])).asnumpy()
    assert loss[0] > 1000 and loss[1] < 1e-3
