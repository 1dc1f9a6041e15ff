import os
import shutil

import mxnet as mx
import numpy as np
import pytest

from recordio import geometry, labelfiles, metrics
from recordio.dataset import ArchiveReader
from symbols import get_model
from symbols.gaze import MC4Compose
from tools import make_rec


def _rot(axis, deg):
    a = np.radians(deg)
    c, s = np.cos(a), np.sin(a)
    if axis == "x":
        return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def test_composition_block_matches_an_independent_rotation_composition():
    rng = np.random.default_rng(0)
    head, eye = rng.uniform(-60, 60, (50, 2)), rng.uniform(-35, 35, (50, 2))
    out = MC4Compose()(mx.nd.array(head), mx.nd.array(eye)).asnumpy()
    for (hlo, hla), (elo, ela), (lo, la) in zip(head, eye, out):
        g = _rot("y", hlo) @ _rot("x", hla) @ _rot("y", elo) @ _rot("x", ela) @ [0, 0, -1]
        assert geometry.angular_error_deg(geometry.mc4_to_vector(lo, la), g) < 1e-3


def test_composition_block_zero_head_gives_eye_and_zero_eye_gives_head():
    a = mx.nd.array([[23.0, -11.0], [-40.0, 17.5]])
    z = mx.nd.zeros((2, 2))
    np.testing.assert_allclose(MC4Compose()(z, a).asnumpy(), a.asnumpy(), atol=1e-4)
    np.testing.assert_allclose(MC4Compose()(a, z).asnumpy(), a.asnumpy(), atol=1e-4)


def test_full_resnext50_mc4_model_steps_and_exports(tmp_path):
    from mxnet import autograd, gluon
    from train.export import export_network
    net = get_model("mc4_gazenet", head_size=224, eye_size=112)
    net.initialize(mx.init.Xavier())
    net.hybridize()
    x = mx.nd.random.uniform(0, 255, (2,) + net.input_shape)
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 1e-3})
    with autograd.record():
        head, eye, gaze = net(x)
        loss = (head.abs() + eye.abs() + gaze.abs()).sum()
    loss.backward()
    trainer.step(2)
    assert np.isfinite(loss.asscalar())
    meta = {"task": "gaze", "input": {"name": "data", "shape": [1] + list(net.input_shape)},
            "outputs": [{"name": n} for n in ("head", "eye", "gaze")]}
    prefix = export_network(net, meta, str(tmp_path / "mc4"))
    sym = mx.sym.load(prefix + "-symbol.json")
    assert len(sym.list_outputs()) == 3
    params = mx.nd.load(prefix + "-0000.params")
    assert sum(v.size for v in params.values()) > 40e6  # two ResNeXt-50 (32x4d) trunks


def test_gaze360_lstm_exports_and_loads_back(tmp_path):
    from deploy.predictor import Predictor
    from train.export import export_network
    net = get_model("gaze360_lstm", input_size=48)
    net.initialize(mx.init.Xavier())
    x = np.random.default_rng(0).uniform(0, 255, (3,) + net.input_shape).astype(np.float32)
    ref = net(mx.nd.array(x))[0].asnumpy()
    meta = {"task": "gaze", "dataset": "gaze360",
            "input": {"name": "data", "shape": [1] + list(net.input_shape), "tiles": []},
            "outputs": [{"name": "gaze"}]}
    prefix = export_network(net, meta, str(tmp_path / "g360"))
    out = Predictor(prefix).raw(x)[0]
    np.testing.assert_allclose(out, ref, atol=1e-5)
    assert (np.abs(out[:, 0]) < np.pi).all() and (np.abs(out[:, 1]) < np.pi / 2).all()
    assert ((out[:, 2] > 0) & (out[:, 2] < np.pi)).all()
    # each frame's pooled 512 features: the source's fc1 (1000, ReLU) and fc2 (256, no activation)
    fc1, fc2 = net.embed._children.values()
    assert (fc1._units, fc1.act is not None, fc2._units, fc2.act) == (1000, True, 256, None)
    assert fc1.weight.shape == (1000, 512) and fc2.weight.shape == (256, 1000)
    assert get_model("gaze360_lstm_relu256").embed._units == 256


def test_mobile_facegaze_default_is_the_sources_head():
    net = get_model("mobile_facegaze")
    net.initialize(mx.init.Xavier())
    x = mx.nd.array(np.random.default_rng(0).uniform(0, 255, (2, 3, 112, 112)).astype(np.float32))
    with mx.autograd.predict_mode():
        assert net(x)[0].shape == (2, 2)
    convs = list(net.weights._children.values())
    assert [c._channels for c in convs] == [256, 256, 1] and all(c.act is not None for c in convs)  # ReLU on all 3
    assert [float(c.bias.data().asnumpy().mean()) for c in convs] == [pytest.approx(0.1), pytest.approx(0.1),
                                                                      pytest.approx(1.0)]
    kinds = [type(layer).__name__ for layer in net.fc._children.values()]
    assert kinds == ["Dense", "Dropout", "Dense", "Dropout", "Dense"]  # plain fully connected layers
    trained = sum(p.data().size for p in net.collect_params().values() if p.grad_req != "null")
    assert 4.2e6 < trained < 4.6e6
    w = net.spatial_weight(mx.nd, net.last(net.features(net.norm(x)))).asnumpy()
    assert w.shape == (2, 1, 4, 4) and w.min() >= 0 and np.abs(w - 1).max() < 0.1  # ReLU(about 1) at the start
    assert not net.starts_at_mean


def test_mobile_facegaze_sm_is_the_spatial_weights_network_of_about_4_4m_parameters(tmp_path):
    from deploy.predictor import Predictor
    from train.export import export_network
    net = get_model("mobile_facegaze_sm")
    net.initialize(mx.init.Xavier())
    x = np.random.default_rng(0).uniform(0, 255, (2, 3, 112, 112)).astype(np.float32)
    with mx.autograd.predict_mode():
        ref = net(mx.nd.array(x))[0].asnumpy()
    trained = sum(p.data().size for p in net.collect_params().values() if p.grad_req != "null")
    assert 4.2e6 < trained < 4.6e6 and ref.shape == (2, 2)
    f = net.last(net.features(net.norm(mx.nd.array(x))))
    assert f.shape == (2, 256, 4, 4)
    w = net.spatial_weight(mx.nd, f).asnumpy()
    assert w.shape == (2, 1, 4, 4) and np.abs(w - 1).max() < 0.1  # the weight map starts near 1
    np.testing.assert_allclose(w.mean(axis=(1, 2, 3)), 1.0, rtol=1e-5)  # and can move, never switch off
    meta = {"task": "gaze", "dataset": "mpiifacegaze", "input": {"name": "data", "shape": [1, 3, 112, 112]},
            "outputs": [{"name": "gaze"}]}
    out = Predictor(export_network(net, meta, str(tmp_path / "mfg"))).raw(x)[0]
    np.testing.assert_allclose(out, ref, atol=1e-5)  # dropout is off in the export


def test_mobile_facegaze_output_starts_at_the_mean_gaze(tmp_path, synth_mpii):
    from train import train_gaze
    from train.gaze_task import GazeTask
    from train.task import warm_up
    src, _ = synth_mpii
    out = str(tmp_path / "m")
    make_rec.main(["mpiifacegaze", src, "--out", out, "-j", "1", "--size", "112"])
    args = train_gaze.parse_args(["--model", "mobile_facegaze_sm", "--train", os.path.join(out, "p00"), "--out",
                                  str(tmp_path / "run")])
    task = GazeTask(args)
    net = task.network(args)
    net.initialize(mx.init.Xavier(magnitude=2))
    warm_up(net, [mx.cpu()], task.input_shape)
    train_ds, _ = task.datasets(args, 0, 1)
    task.init_network(net, train_ds)
    mean = task.layout.get(train_ds.labels(), "gaze").mean(axis=0)
    np.testing.assert_allclose(net.fc[-1].bias.data().asnumpy(), mean, rtol=1e-5)
    x = np.stack([train_ds[i][0] for i in range(4)]).astype(np.float32)
    net.hybridize()
    pred = net(mx.nd.array(x))[0].asnumpy()
    assert np.abs(pred - mean).max() < 0.1  # radians: the first answers sit at the mean gaze
    source = get_model("mobile_facegaze")  # the source's head starts where its initialiser puts it
    source.initialize(mx.init.Xavier(magnitude=2))
    warm_up(source, [mx.cpu()], task.input_shape)
    task.init_network(source, train_ds)
    assert np.abs(source.fc[-1].bias.data().asnumpy()).max() == 0


def test_pinball_loss_hand_computed():
    from train.gaze_task import pinball
    err = mx.nd.array([2.0, -2.0])
    np.testing.assert_allclose(pinball(mx.nd, err, 0.1).asnumpy(), [0.2, 1.8], atol=1e-6)
    np.testing.assert_allclose(pinball(mx.nd, err, 0.9).asnumpy(), [1.8, 0.2], atol=1e-6)


def test_gaze_loss_averages_the_two_angles_as_the_sources_or_sums_them(tmp_path, synth_mpii):
    from train import train_gaze
    from train.gaze_task import GazeTask
    src, _ = synth_mpii
    out = str(tmp_path / "m")
    make_rec.main(["mpiifacegaze", src, "--out", out, "-j", "1", "--size", "112"])
    losses = {}
    for kind, reduction in (("l1", None), ("l1", "sum"), ("smooth_l1", "mean")):
        argv = ["--train", os.path.join(out, "p00"), "--out", str(tmp_path / "run"), "--loss", kind]
        task = GazeTask(train_gaze.parse_args(argv + (["--loss_reduction", reduction] if reduction else [])))
        label = task.layout.pack(gaze=[0.5, 3.0])[None]  # the prediction (0, 0) is 0.5 and 3 off
        losses[(kind, reduction)] = float(task.loss((mx.nd.zeros((1, 2)),), mx.nd.array(label)).asscalar())
    assert losses[("l1", None)] == pytest.approx((0.5 + 3.0) / 2)  # the default: the sources' mean
    assert losses[("l1", "sum")] == pytest.approx(0.5 + 3.0)
    assert losses[("smooth_l1", "mean")] == pytest.approx((0.125 + 2.5) / 2)


def test_mpiifacegaze_one_archive_per_person_with_labels(tmp_path, synth_mpii):
    src, truth = synth_mpii
    out = str(tmp_path / "m")
    s = make_rec.main(["mpiifacegaze", src, "--out", out, "-j", "1", "--size", "112"])
    assert sorted(s) == ["p00", "p01"] and all(v["written"] == 6 and v["rejected"] == 0 for v in s.values())
    r = ArchiveReader(os.path.join(out, "p01"))
    t = [x for x in truth if x["person"] == "p01"]
    for i in range(len(r)):
        img, lab = r.read(i)
        assert img.shape == (112, 112, 3)
        np.testing.assert_allclose(r.layout.get(lab, "gaze"), t[i]["gaze_pitch_yaw"], atol=1e-5)
        np.testing.assert_allclose(r.layout.get(lab, "gaze_vector"), t[i]["gaze_vector"], atol=1e-5)


def test_gaze360_sequences_and_a_missing_frame_named(tmp_path, synth_gaze360):
    src, truth = synth_gaze360
    d = tmp_path / "g"
    shutil.copytree(src, d)
    victim = [t for t in truth if t["split"] == "train"][0]["image"]  # remove a frame next to a training centre
    frame = int(victim.split("/")[-1][:-4])
    missing = d / "imgs" / os.path.dirname(victim) / ("%06d.jpg" % (frame + 2))
    os.remove(missing)
    with open(d / "train.txt", "a") as f:
        f.write("rec_000/head/000000/000000.jpg 0.1 0.2 -0.9\n")  # a recording's first frame is no centre
        f.write("broken line\n")
    out = str(tmp_path / "o")
    s = make_rec.main(["gaze360", str(d), "--out", out, "-j", "1", "--size", "32", "--missing_frames", "reject"])
    rej = "\n".join(open(os.path.join(out, p)).read() for p in os.listdir(out) if p.endswith(".rejects.txt"))
    assert str(missing) in rej and "frame file not found" in rej
    assert "expected 4 tokens" in rej
    assert sum(v["written"] + v["rejected"] for v in s.values()) == len(truth) + 2
    # the default is the source's loader: a white frame where one is missing (centres too), counted in the meta
    white = str(tmp_path / "w")
    sw = make_rec.main(["gaze360", str(d), "--out", white, "-j", "1", "--size", "32"])
    # every sample the reject mode dropped for a frame is written; only the broken line is left out
    assert sw["train"]["rejected"] == 1 and sw["train"]["written"] == s["train"]["written"] + s["train"]["rejected"] - 1
    assert sw["train"]["white_frames"] + sw["train"].get("white_centre_frames", 0) >= 4
    notes = open(os.path.join(white, "train.notes.txt")).read()
    assert str(missing) in notes  # each white frame named with the sample's file and line
    last = len(open(d / "train.txt").read().splitlines()) - 1  # the line of a recording's first frame
    assert "train.txt:%d: sequence frame -3 made white" % last in notes
    wr = ArchiveReader(os.path.join(white, "train"))
    first = [k for k in range(len(wr)) if int(wr.layout.get(wr.read(k)[1], "line")) == len(open(d / "train.txt")
                                                                                         .read().splitlines()) - 1]
    assert len(first) == 1
    frames = wr.read(first[0])[0]
    assert frames[:, :3 * 32 - 8].min() >= 245 and frames[:, 3 * 32:].min() < 200  # frames -3..-1 white (JPEG)
    r = ArchiveReader(os.path.join(out, "test"))
    assert r.meta["image"]["width"] == 7 * 32 and len(r.meta["tiles"]) == 7
    lab = r.read(0)[1]
    t = [x for x in truth if x["split"] == "test"][0]
    np.testing.assert_allclose(r.layout.get(lab, "gaze_vector"), t["gaze_vector"], atol=1e-5)


def test_gaze_flip_negates_yaw_and_swaps_the_eyes(synth_mc4, tmp_path):
    from recordio.transforms import GazeTransform
    src, _ = synth_mc4
    out = str(tmp_path / "m")
    make_rec.main(["mc4", os.path.join(src, "train"), "--out", out, "-j", "1"])
    r = ArchiveReader(os.path.join(out, "train"))
    img, lab = r.read(0)
    tiles = r.meta["tiles"]
    tf = GazeTransform("mc4", r.layout, tiles, tiles, 3, train=True, flip=1.0, scale=0, shift=0, color=0)
    data, flipped = tf(img, lab)
    L = r.layout
    np.testing.assert_allclose(L.get(flipped, "gaze"), L.get(lab, "gaze") * [-1, 1], atol=1e-6)
    np.testing.assert_allclose(L.get(flipped, "head"), L.get(lab, "head") * [-1, 1], atol=1e-6)
    np.testing.assert_allclose(L.get(flipped, "gaze_vector"), L.get(lab, "gaze_vector") * [-1, 1, 1], atol=1e-6)
    out_img = data.transpose(1, 2, 0)
    e = tiles[1]
    left_out = out_img[e["y"]:e["y"] + e["h"], e["x"]:e["x"] + e["w"]].astype(int)
    r_src = tiles[2]
    right_in = img[r_src["y"]:r_src["y"] + r_src["h"], r_src["x"]:r_src["x"] + r_src["w"]][:, ::-1].astype(int)
    assert np.abs(left_out - right_in).mean() < 2  # the new left eye is the old right eye, mirrored
    # MC4's one-eye training: the eyes trade tiles unmirrored, the label unchanged
    traded = GazeTransform("mc4", r.layout, tiles, tiles, 3, train=True, flip=0, scale=0, shift=0, color=0,
                           swap_views=1.0)
    data, same = traded(img, lab)
    np.testing.assert_array_equal(same, lab)
    left_out = data.transpose(1, 2, 0)[e["y"]:e["y"] + e["h"], e["x"]:e["x"] + e["w"]].astype(int)
    assert np.abs(left_out - right_in[:, ::-1]).mean() < 2
    kept, _ = GazeTransform("mc4", r.layout, tiles, tiles, 3, train=False, swap_views=1.0)(img, lab)
    left_in = img[e["y"]:e["y"] + e["h"], e["x"]:e["x"] + e["w"]].astype(int)
    assert np.abs(kept.transpose(1, 2, 0)[e["y"]:e["y"] + e["h"], e["x"]:e["x"] + e["w"]] - left_in).mean() < 2


def test_mc4_eye_net_sees_one_eye_as_the_source_and_both_as_the_named_option():
    x = np.random.default_rng(1).uniform(0, 255, (2, 1, 64, 96)).astype(np.float32)
    eye = get_model("mc4_gazenet", backbone="small", head_size=64, eye_size=32).tiles["r_eye"]
    y = x.copy()
    y[:, :, eye["y"]:eye["y"] + eye["h"], eye["x"]:eye["x"] + eye["w"]] = 0  # another right eye
    for name, changes in (("mc4_gazenet", False), ("mc4_gazenet_2eyes", True)):
        net = get_model(name, backbone="small", head_size=64, eye_size=32)
        net.initialize(mx.init.Xavier())
        with mx.autograd.predict_mode():
            a, b = net(mx.nd.array(x))[1].asnumpy(), net(mx.nd.array(y))[1].asnumpy()
        assert (np.abs(a - b).max() > 1e-4) == changes, name


def test_mc4_submission_parses_back_to_the_predictions(tmp_path, synth_mc4):
    from deploy import score
    from train import train_gaze
    src, _ = synth_mc4
    rec = str(tmp_path / "rec")
    make_rec.main(["mc4", os.path.join(src, "train"), "--out", rec, "-j", "1"])
    make_rec.main(["mc4", os.path.join(src, "test"), "--out", rec, "-j", "1", "--test"])
    run = str(tmp_path / "run")
    train_gaze.main(["--model", "mc4_gazenet_small", "--train", os.path.join(rec, "train"), "--out", run,
                     "--head_size", "64", "--eye_size", "32", "--epochs", "1", "--batch_size", "8",
                     "--num_workers", "0", "--log_interval", "0"])
    sub = str(tmp_path / "submission.txt")
    score.main(["--model", os.path.join(run, "model"), "--archive", os.path.join(rec, "test"), "--out",
                str(tmp_path / "score"), "--submission", sub])
    parsed, errors = labelfiles.read_mc4_labels(sub)
    reader = ArchiveReader(os.path.join(rec, "test"))
    assert not errors and len(parsed) == len(reader) > 0
    assert list(parsed) == [s["image"] for s in reader.meta["sources"]]
    from deploy.predictor import Predictor
    from recordio.transforms import GazeTransform
    p = Predictor(os.path.join(run, "model"))
    tf = GazeTransform("mc4", reader.layout, reader.meta["tiles"], p.meta["input"]["tiles"], 1, train=False)
    img, lab = reader.read(0)
    gaze = p.raw(tf(img, lab)[0][None])[2][0]
    np.testing.assert_allclose(parsed[reader.meta["sources"][0]["image"]][1:], gaze, atol=6e-4)


def test_gaze_report_on_gaze360_subsets_and_coverage():
    from recordio.schema import gaze360_layout
    L = gaze360_layout()
    truth = np.array([[0.0, 0.0], [0.5, 0.1], [2.5, 0.0]])  # yaw, pitch (rad): front, 29 deg off, behind
    labels = np.stack([L.pack(has_label=1, gaze=t, gaze_vector=geometry.yawpitch_to_vector(*t)) for t in truth])
    pred = np.concatenate([truth + [[0.1, 0.0]], np.full((3, 1), 0.05)], 1)  # 0.1 rad off in yaw, sigma 0.05
    rep = metrics.gaze_report("gaze360", [pred], labels, L)
    assert rep["count"] == 3 and rep["interval_coverage"] == 0.5  # pitch inside, yaw outside
    assert np.isfinite(rep["angular_error_front_facing"]) and rep["angular_error_front180"] > 0
    np.testing.assert_allclose(rep["angular_error_front_facing"], np.degrees(0.1), rtol=1e-3)


def test_gaze360_interval_is_calibrated_on_the_validation_split(tmp_path, synth_gaze360):
    """After training, sigma is scaled so that pred +- sigma covers 80% of the validation angles; the
    export carries the scale and deploy/score.py measures the same coverage."""
    from deploy import score
    from deploy.predictor import Predictor
    from train import train_gaze
    src, _ = synth_gaze360
    rec = str(tmp_path / "rec")
    make_rec.main(["gaze360", src, "--out", rec, "-j", "1", "--size", "48"])
    run, val = str(tmp_path / "run"), os.path.join(rec, "train")
    best = train_gaze.main(["--model", "gaze360_static", "--train", os.path.join(rec, "train"), "--val", val,
                            "--input_size", "48", "--epochs", "1", "--batch_size", "8", "--num_workers", "0",
                            "--log_interval", "0", "--out", run])
    scale = best["sigma_scale"]
    assert scale > 0 and scale != 1.0
    assert 0.8 <= best["interval_coverage"] < 0.9
    assert best["interval_coverage"] != best["interval_coverage_uncalibrated"]
    saved = mx.nd.load(os.path.join(run, "model-0000.params"))
    assert [float(v.asscalar()) for k, v in saved.items() if k.endswith("sigma_scale")] == [pytest.approx(scale)]
    summary = score.main(["--model", os.path.join(run, "model"), "--archive", val, "--out", str(tmp_path / "s")])
    assert summary["interval_coverage"] == pytest.approx(best["interval_coverage"], abs=1e-6)
    net = get_model("gaze360_static", input_size=48, tile_frames=7)
    net.load_parameters(os.path.join(run, "best.params"))
    x = np.random.default_rng(0).uniform(0, 255, (4,) + net.input_shape).astype(np.float32)
    out = Predictor(os.path.join(run, "model")).raw(x)[0]
    net.sigma_scale.set_data(mx.nd.ones((1,)))
    raw = net(mx.nd.array(x))[0].asnumpy()
    np.testing.assert_allclose(out[:, :2], raw[:, :2], atol=1e-5)
    np.testing.assert_allclose(out[:, 2], np.minimum(raw[:, 2] * scale, np.pi), rtol=1e-5)

