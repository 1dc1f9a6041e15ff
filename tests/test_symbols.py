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
    # its last layer answers in input pixels as the course's (its MSE and SGD rate are in those units); the
    # block hands on shares
    x = mx.nd.random.uniform(0, 255, (2, 1, 112, 112))
    np.testing.assert_allclose(net(x)[0].asnumpy() * 112, net.head(net.trunk(net.norm(x))).asnumpy(), rtol=1e-5)
    assert not net.starts_at_mean_shape and get_model("course_stage3_cnn").starts_at_mean_shape


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


def test_landmark_loss_sums_or_averages_a_faces_coordinates():
    p, t = mx.nd.array([[0.0, 0.0, 0.0, 0.0]]), mx.nd.array([[3 / 112, 0.0, 0.0, 4 / 112]])  # 3 px and 4 px off
    np.testing.assert_allclose(LandmarkLoss("l2", 112, reduction="sum")(p, t).asnumpy(), [9 + 16], rtol=1e-5)
    np.testing.assert_allclose(LandmarkLoss("l2", 112)(p, t).asnumpy(), [(9 + 16) / 4], rtol=1e-5)
    with pytest.raises(ValueError, match="unknown reduction 'total'"):
        LandmarkLoss("l2", 112, reduction="total")


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
    landmark, face = MaskedFaceLoss(lmk)(pred, far, logits, mx.nd.array([1, 0]))
    loss = (landmark + face).asnumpy()
    assert loss[0] > 1000 and loss[1] < 1e-3
    a, b = MaskedFaceLoss(lmk, landmark_weight=2.0, face_weight=0.5)(pred, far, logits, mx.nd.array([1, 0]))
    np.testing.assert_allclose(a.asnumpy(), 2 * landmark.asnumpy(), rtol=1e-6)
    np.testing.assert_allclose(b.asnumpy(), 0.5 * face.asnumpy(), rtol=1e-6)


def test_base_regressor_is_the_seed_articles_base_network():
    net = get_model("base_regressor", num_points=98)
    net.initialize()
    convs = _convs(net.body)
    assert [c for c, _, _ in convs] == [16, 32, 32, 32, 32, 64, 64, 128]
    assert [s for _, _, s in convs] == [(2, 2), (1, 1)] * 4  # stride 2 at the first, third, fifth and seventh
    layers = list(net.body._children.values())
    kinds = [type(layer).__name__ for layer in layers]
    assert kinds[:24] == ["Conv2D", "BatchNorm", "Activation"] * 8  # each convolution with BatchNorm and ReLU
    assert all(layer._kwargs["pad"] == (1, 1) for layer in layers if isinstance(layer, nn.Conv2D))
    assert kinds[24:] == ["MaxPool2D", "Flatten", "Dense", "Dense"]  # one max-pool
    dense = [layer for layer in layers if isinstance(layer, nn.Dense)]
    assert [d._units for d in dense] == [512, 196] and dense[0].act is None  # dense 512 without activation
    x = mx.nd.zeros((2, 3, 112, 112))
    assert net.body[:25](net.norm(x)).shape == (2, 128, 3, 3)  # 1152 values flattened at 112 px
    assert net(x)[0].shape == (2, 196)


def test_every_registered_model_builds_runs_and_exports(tmp_path):
    from train.export import export_network
    # (not 32 px for ResNet-18: MXNet 1.9.1 with MKLDNN corrupts memory after a 1x1 map in layer4, and a later
    # nd.save crashes)
    small = {"mc4": {"head_size": 96, "eye_size": 48}, "gaze360": {"input_size": 48}}  # the big ones, smaller
    for name in model_names():
        kw = small.get(name.split("_")[0], {})
        net = get_model(name, **kw)
        net.initialize(mx.init.Xavier())
        shape = getattr(net, "input_shape", None) or (net.input_channels, net.input_size, net.input_size)
        out = net(mx.nd.random.uniform(0, 255, (2,) + tuple(shape)))
        out = out if isinstance(out, (tuple, list)) else (out,)
        names = getattr(net, "outputs", ())
        assert all(np.isfinite(o.asnumpy()).all() for o in out), name
        assert all(o.shape[0] == (1 if k < len(names) and names[k] == "anchors" else 2)  # anchors: one set
                   for k, o in enumerate(out)), name
        meta = {"task": "test", "input": {"name": "data", "shape": [1] + list(shape)},
                "outputs": [{"name": "out%d" % k} for k in range(len(net.deploy["keep"]))]}
        prefix = export_network(net, meta, str(tmp_path / name))
        assert len(mx.sym.load(prefix + "-symbol.json").list_outputs()) == len(net.deploy["keep"]), name


def test_imagenet_normalisation_turns_bgr_pixels_into_the_weights_rgb_input():
    from symbols.common import IMAGENET_MEAN_RGB, IMAGENET_STD_RGB, Normalize
    bgr = mx.nd.array(np.array([10.0, 100.0, 200.0]).reshape(1, 3, 1, 1))
    out = Normalize("imagenet", 3)(bgr).asnumpy().ravel()
    rgb = np.array([200.0, 100.0, 10.0]) / 255.0
    np.testing.assert_allclose(out, (rgb - IMAGENET_MEAN_RGB) / IMAGENET_STD_RGB, rtol=1e-5)
    gray = Normalize("imagenet", 1)(mx.nd.full((1, 1, 1, 1), 128.0)).asnumpy().ravel()
    np.testing.assert_allclose(gray, (128 / 255.0 - np.mean(IMAGENET_MEAN_RGB)) / np.mean(IMAGENET_STD_RGB), rtol=1e-5)


def test_pretrained_backbone_comes_from_the_local_model_store_and_nothing_downloads(tmp_path, monkeypatch):
    from gluoncv.model_zoo import get_model as gcv_model
    from symbols.common import load_imagenet, zoo_file
    store = tmp_path / "models"
    store.mkdir()
    net = get_model("course_stage3_resnet18", norm="imagenet")
    net.initialize()
    net(mx.nd.zeros((1, 1, 112, 112)))
    with pytest.raises(SystemExit, match=r"resnet18_v1b-2d9d980c\.params.*does not exist.*nothing is downloaded"):
        load_imagenet(net, str(store))
    zoo = gcv_model("resnet18_v1b", pretrained=False)  # stands for the ImageNet file: random weights, saved here
    zoo.initialize(mx.init.Xavier())
    zoo(mx.nd.zeros((1, 3, 64, 64)))
    zoo.save_parameters(zoo_file("resnet18_v1b", str(store)))
    saved = mx.nd.load(zoo_file("resnet18_v1b", str(store)))
    loaded = load_imagenet(net, str(store))
    assert loaded["resnet18_v1b"] > 50
    conv1 = net.features[0].weight.data().asnumpy()
    np.testing.assert_allclose(conv1, saved["conv1.weight"].asnumpy().sum(axis=1, keepdims=True), atol=1e-7)
    np.testing.assert_allclose(net.features[7][1].conv2.weight.data().asnumpy(),
                               saved["layer4.1.conv2.weight"].asnumpy())
    monkeypatch.setenv("MXNET_HOME", str(tmp_path))  # the default store is gluoncv's, under $MXNET_HOME
    assert load_imagenet(net)["resnet18_v1b"] == loaded["resnet18_v1b"]
    with pytest.raises(SystemExit, match="no ImageNet backbone"):
        load_imagenet(get_model("course_stage1"))


def test_course_stage2_fpn_merges_the_4x4_level_into_the_8x8_one_top_down():
    net = get_model("course_stage2_fpn")
    net.initialize(mx.init.Xavier())
    x = mx.nd.random.uniform(0, 255, (2, 1, 112, 112))
    layers = list(net.trunk._children.values())
    c4 = net.norm(x)
    for layer in layers[:net.FPN_SPLIT]:
        c4 = layer(c4)
    assert c4.shape == (2, 48, 8, 8)  # the 24-channel convolutions' map, at width 2
    f = net.features(mx.nd, net.norm(x))
    assert f.shape == (2, 2 * 128 * 4 * 4)  # the merged 8 x 8 map pooled to 4 x 4, beside the 4 x 4 level
    lat4 = net.fpn[0][0]
    before = net(x)[0].asnumpy()
    lat4.weight.set_data(mx.nd.zeros_like(lat4.weight.data()))  # cut the 8 x 8 lateral: the answer changes
    assert np.abs(net(x)[0].asnumpy() - before).max() > 1e-6
    assert net.px_scale == 1 / 112 and not net.starts_at_mean_shape  # answers in pixels, as stage 2
