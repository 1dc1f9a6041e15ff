"""landmark_gaze: a gaze network started from the shipped landmark model's weights (tools/landmark_init.py).
Its shared layers must compute what the landmark export computes, checked against the export's own symbol."""
import os

import cv2
import mxnet as mx
import numpy as np
import pytest

from deploy.analyzer import SHIPPED_LANDMARKS
from tools.landmark_init import landmark_init

UP_OUTPUT = "m%d_coursecnn0_lmk_conv2_fwd_output"  # the export's last upsampling layer, before the heatmaps


def export_internal(prefix, name, x):
    """The export's own intermediate output ``name`` on ``x``, run from its symbol file."""
    sym = mx.sym.load(prefix + "-symbol.json").get_internals()[name]
    params = mx.nd.load(prefix + "-0000.params")
    args = {k[4:]: v for k, v in params.items() if k.startswith("arg:")}
    aux = {k[4:]: v for k, v in params.items() if k.startswith("aux:")}
    args["data"] = mx.nd.array(x)
    exe = sym.bind(mx.cpu(), {k: v for k, v in args.items() if k in sym.list_arguments()},
                   aux_states={k: v for k, v in aux.items() if k in sym.list_auxiliary_states()})
    return exe.forward(is_train=False)[0].asnumpy()


@pytest.mark.parametrize("member", [0, 2])
def test_shared_layers_compute_what_the_landmark_export_computes(tmp_path, member):
    from symbols import get_model
    out = str(tmp_path / "init.params")
    copied, fresh = landmark_init(SHIPPED_LANDMARKS, out, member=member)
    assert copied > 0 and fresh > 0
    net = get_model("landmark_gaze")
    net.load_parameters(out)
    bgr = np.random.default_rng(member).integers(0, 256, (2, 112, 112, 3)).astype(np.uint8)
    gray = np.stack([cv2.cvtColor(im, cv2.COLOR_BGR2GRAY) for im in bgr])[:, None].astype(np.float32)
    x = mx.nd.array(bgr.transpose(0, 3, 1, 2).astype(np.float32))
    # the colour turned to gray as OpenCV turns it (up to OpenCV's rounding to whole grey levels)
    assert np.abs(net.gray(mx.nd, x).asnumpy() - gray).max() <= 0.51
    up = net.up(net.trunk(net.norm(mx.nd.array(gray)))).asnumpy()
    want = export_internal(SHIPPED_LANDMARKS, UP_OUTPUT % member, gray)
    assert up.shape == want.shape == (2, 64, 32, 32)
    np.testing.assert_allclose(up, want, rtol=1e-4, atol=1e-4)
    assert net(x)[0].shape == (2, 2)


def test_refuses_an_export_it_cannot_start_from(tmp_path):
    with pytest.raises(SystemExit, match="no such landmark export"):
        landmark_init(str(tmp_path / "missing"), str(tmp_path / "o.params"))
    mx.nd.save(str(tmp_path / "other-0000.params"), {"arg:resnet_conv0_weight": mx.nd.zeros((1,))})
    with pytest.raises(SystemExit, match="other-0000.params"):
        landmark_init(str(tmp_path / "other"), str(tmp_path / "o.params"))
    assert not os.path.exists(tmp_path / "o.params")
