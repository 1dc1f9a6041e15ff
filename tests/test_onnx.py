"""ONNX export with parity for every registered network, and the deploy backends."""
import json
import os
import shutil

import numpy as np
import pytest

from symbols import get_model, model_defaults, model_names

PARITY = 1e-4  # ONNX Runtime's outputs within this share of the output's scale of MXNet's
# small inputs keep the test fast; ResNets get at least 48 px (MXNet 1.9.1's MKLDNN fails on 1x1 maps)
SIZES = {"mc4_gazenet": {"head_size": 96, "eye_size": 48}, "mc4_gazenet_small": {"head_size": 64, "eye_size": 32},
         "mc4_gazenet_resnet18": {"head_size": 96, "eye_size": 48}, "gaze360_lstm": {"input_size": 48},
         "gaze360_static": {"input_size": 48}, "face_ssd": {"input_size": 128}}


def _export(name, out):
    import mxnet as mx
    from train.export import export_network, export_onnx
    net = get_model(name, **SIZES.get(name, {}))
    net.initialize(mx.init.Xavier(magnitude=2.0))
    if hasattr(net, "input_shape"):
        shape = (1,) + tuple(net.input_shape)
    else:
        d = model_defaults(name)
        shape = (1, d["input_channels"], d["input_size"], d["input_size"])
    net(mx.nd.array(np.random.default_rng(1).uniform(0, 255, shape)))
    prefix = export_network(net, {"input": {"name": "data", "shape": list(shape)}, "outputs": []}, out)
    return prefix, export_onnx(prefix), shape


@pytest.mark.parametrize("name", model_names())
def test_every_registered_network_exports_to_onnx_and_matches_mxnet_at_batch_1_and_8(tmp_path, name):
    import mxnet as mx
    import onnxruntime as ort
    prefix, path, shape = _export(name, str(tmp_path / "model"))
    meta = json.load(open(prefix + "-meta.json"))
    assert meta["onnx"]["opset"] == 13 and meta["onnx"]["file"] == "model.onnx"
    assert max(meta["onnx"]["parity"].values()) < PARITY
    _assert_repaired(path, meta)
    # and again here, on pixels the export never saw, through ONNX Runtime's own session
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    ref = mx.gluon.SymbolBlock.imports(prefix + "-symbol.json", ["data"], prefix + "-0000.params")
    for n in (1, 8):
        x = np.random.default_rng(n).uniform(0, 255, (n,) + shape[1:]).astype(np.float32)
        want = ref(mx.nd.array(x))
        want = [w.asnumpy() for w in (want if isinstance(want, (list, tuple)) else [want])]
        got = session.run(None, {session.get_inputs()[0].name: x})
        assert [g.shape for g in got] == [w.shape for w in want]
        for g, w in zip(got, want):
            assert np.abs(g - w).max() <= PARITY * max(np.abs(w).max(), 1e-12)


def _assert_repaired(path, meta):
    """The repairs train/export.py makes, read off the saved ONNX graph itself."""
    import onnx
    from onnx import helper
    model = onnx.load(path)
    assert [(o.domain, o.version) for o in model.opset_import] == [("", 13)]  # the opset it was written for
    weights = {i.name for i in model.graph.initializer}
    assert not weights & {i.name for i in model.graph.input}  # weights are constants, not graph inputs
    assert [i.name for i in model.graph.input] == ["data"]
    read = {name for node in model.graph.node for name in node.input}
    assert weights <= read  # no weight that no node reads (a dropped head's leftovers)
    names = [node.name for node in model.graph.node]
    assert all(names) and len(set(names)) == len(names)  # every node named, once
    for node in model.graph.node:
        if node.op_type == "AveragePool":
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            if not any(attrs.get("pads", [])):
                assert attrs.get("count_include_pad", 0) == 0, node.name  # MXNet counts no padding
    props = {p.key: p.value for p in model.metadata_props}
    assert props["params_sha256"] == meta["params_sha256"] == meta["onnx"]["params_sha256"]


SHIPPED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "deploy", "models", "course21",
                       "model")


@pytest.fixture(scope="module")
def shipped_copy(tmp_path_factory):
    out = tmp_path_factory.mktemp("shipped")
    for suffix in ("-symbol.json", "-0000.params", "-meta.json", ".onnx"):
        shutil.copy(SHIPPED + suffix, str(out / "model") + suffix)
    return str(out / "model")


def test_the_shipped_model_carries_its_onnx_file_and_parity():
    from recordio.schema import file_sha256
    meta = json.load(open(SHIPPED + "-meta.json"))
    assert os.path.exists(SHIPPED + ".onnx") and max(meta["onnx"]["parity"].values()) < PARITY
    assert meta["params_sha256"] == file_sha256(SHIPPED + "-0000.params")
    _assert_repaired(SHIPPED + ".onnx", meta)
    import onnx
    pools = [n for n in onnx.load(SHIPPED + ".onnx").graph.node if n.op_type == "AveragePool"]
    assert pools  # the course CNN's ceil-mode average pooling is there to be repaired


@pytest.mark.parametrize("backend", ["mkldnn", "onnxruntime", "int8"])
def test_every_backend_answers_like_mxnet(shipped_copy, course21_archive, backend):
    """mkldnn and onnxruntime to float precision; int8, calibrated on an archive, moves the median point by
    under 2% of the crop (what it costs in NME on real faces: bench/bench_infer.py)."""
    from deploy.predictor import Predictor, calibration_batch
    meta = json.load(open(shipped_copy + "-meta.json"))
    x = calibration_batch(meta, course21_archive[1], n=16)
    ref = Predictor(shipped_copy).raw(x)
    p = Predictor(shipped_copy, backend=backend, calib=calibration_batch(meta, course21_archive[0], n=32))
    assert p.backend == backend
    out = p.raw(x)
    if backend == "int8":
        assert np.median(np.abs(out[0] - ref[0])) < 0.02 and not np.array_equal(out[0], ref[0])
        _assert_int8_keeps_float(p, len(meta["ensemble"]))
    else:
        for a, b in zip(out, ref):
            assert np.abs(a - b).max() <= 1e-4 * np.abs(b).max()


def test_auto_times_every_backend_and_keeps_the_fastest(shipped_copy, course21_archive):
    from deploy.predictor import BACKENDS, Predictor, calibration_batch
    meta = json.load(open(shipped_copy + "-meta.json"))
    p = Predictor(shipped_copy, backend="auto", calib=calibration_batch(meta, course21_archive[0], n=16))
    timed = {k: v for k, v in p.timings.items() if not isinstance(v, str)}
    assert set(p.timings) == set(BACKENDS) - {"auto"} and len(timed) == 4
    assert p.backend == min(timed, key=timed.get)
    # what it keeps is that backend as built alone (int8 is not calibrated twice: compare it within its noise)
    x = calibration_batch(meta, course21_archive[1], n=8)
    fresh = Predictor(shipped_copy, backend=p.backend, calib=calibration_batch(meta, course21_archive[0], n=16))
    for a, b in zip(p.raw(x), fresh.raw(x)):
        assert np.abs(a - b).max() <= 1e-5 * max(np.abs(b).max(), 1e-12)


def test_the_onnx_backend_without_its_file_says_how_to_make_it(tmp_path, shipped_copy):
    from deploy.predictor import Predictor
    for suffix in ("-symbol.json", "-0000.params", "-meta.json"):
        shutil.copy(shipped_copy + suffix, str(tmp_path / "m") + suffix)
    with pytest.raises(FileNotFoundError, match="export.py RUN_DIR --onnx"):
        Predictor(str(tmp_path / "m"), backend="onnxruntime")
    p = Predictor(str(tmp_path / "m"), backend="auto")  # auto leaves out what it cannot build, and says why
    assert "unavailable" in p.timings["onnxruntime"] and "unavailable" in p.timings["int8"]


def test_analyze_reports_the_backend_auto_chose(tmp_path):
    from deploy import analyze
    from tools.synth.formats import write_video
    write_video(str(tmp_path / "v"), 1, seed=2, frames=3, faces=(1, 1))
    summary = analyze.main([str(tmp_path / "v" / "video_000.mp4"), "--backend", "auto", "--detector", "dlib",
                            "--no_draw", "--out", str(tmp_path / "o")])
    assert summary["backend"] in ("mxnet", "mkldnn", "onnxruntime")
    assert summary["backend_timings_ms"][summary["backend"]] == min(
        v for v in summary["backend_timings_ms"].values() if not isinstance(v, str))


def _member(out, seed, size=None):
    import mxnet as mx
    from train.export import export_network
    os.makedirs(os.path.dirname(out), exist_ok=True)
    mx.random.seed(seed)
    net = get_model("course_stage3", **({"input_size": size} if size else {}))
    net.initialize(mx.init.Xavier(magnitude=2.0))
    d = model_defaults("course_stage3")
    shape = (1, d["input_channels"], size or d["input_size"], size or d["input_size"])
    net(mx.nd.zeros(shape))
    meta = {"task": "landmarks", "schema": "course21", "model": "course_stage3", "crop": {"expand": 0.25},
            "input": {"name": "data", "shape": list(shape)}, "metrics": {"nme": 0.1 * seed},
            "outputs": [{"name": "landmarks"}, {"name": "face_prob"}]}
    return export_network(net, meta, out), shape


def test_an_ensemble_export_answers_the_mean_of_its_members_in_mxnet_and_onnx(tmp_path):
    import onnxruntime as ort
    from deploy.predictor import Predictor
    from train.export import export_ensemble
    (a, shape), (b, _) = _member(str(tmp_path / "a" / "model"), 1), _member(str(tmp_path / "b" / "model"), 2)
    ens = export_ensemble([a, b], str(tmp_path / "ens" / "model"), onnx=True)
    x = np.random.default_rng(3).uniform(0, 255, (4,) + shape[1:]).astype(np.float32)
    outs = [Predictor(p).raw(x) for p in (a, b, ens)]
    # the members differ, so the mean is a real test
    assert np.abs(outs[0][0] - outs[1][0]).max() > 0.1 * np.abs(outs[0][0]).max()
    for k in range(2):
        want = 0.5 * (outs[0][k] + outs[1][k])
        assert np.abs(outs[2][k] - want).max() <= 1e-5 * np.abs(want).max()
    session = ort.InferenceSession(ens + ".onnx", providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x})
    for g, w in zip(got, outs[2]):
        assert np.abs(g - w).max() <= PARITY * max(np.abs(w).max(), 1e-12)
    meta = json.load(open(ens + "-meta.json"))
    assert [m["metrics"]["nme"] for m in meta["ensemble"]] == [0.1, 0.2] and "metrics" not in meta
    assert meta["model"].startswith("ensemble of 2")


def test_an_ensemble_of_exports_that_take_different_inputs_is_refused_by_name(tmp_path):
    from train.export import export_ensemble
    a, _ = _member(str(tmp_path / "a" / "model"), 1)
    b, _ = _member(str(tmp_path / "b" / "model"), 2, size=64)
    with pytest.raises(ValueError, match="b/model differ in input"):
        export_ensemble([a, b], str(tmp_path / "ens" / "model"))


def test_auto_leaves_out_a_backend_that_fails_in_any_way_and_names_them_all_when_none_runs(tmp_path, shipped_copy,
                                                                                          monkeypatch):
    from deploy import predictor as pr
    from recordio.errors import BadModelFile
    build = pr.Predictor._build

    def broken_mkldnn(self, backend, ctx=None, calib=None):
        if backend == "mkldnn":
            raise RuntimeError("MKLDNN is not in this MXNet build")
        return build(self, backend, ctx, calib)
    monkeypatch.setattr(pr.Predictor, "_build", broken_mkldnn)
    p = pr.Predictor(shipped_copy, backend="auto")
    assert "MKLDNN is not in this MXNet build" in p.timings["mkldnn"] and p.backend in ("mxnet", "onnxruntime")

    def nothing(self, backend, ctx=None, calib=None):
        raise RuntimeError("%s is broken here" % backend)
    monkeypatch.setattr(pr.Predictor, "_build", nothing)
    with pytest.raises(BadModelFile, match="no backend could run it.*mxnet: unavailable: mxnet is broken here"):
        pr.Predictor(shipped_copy, backend="auto")


def _assert_int8_keeps_float(p, members):
    """In the quantized graph each member's first convolution (it reads the normalised pixels) and every dense
    layer stay float32, and the rest of the convolutions are int8."""
    import mxnet as mx
    p.net(mx.nd.zeros(tuple(p.meta["input"]["shape"])))
    nodes = json.loads(p.net._cached_graph[1].tojson())["nodes"]
    quantized = [n.get("attrs", {}).get("quantized") == "true" for n in nodes]
    convs = [k for k, n in enumerate(nodes) if n["op"] == "_sg_mkldnn_conv"]
    float_convs = [k for k in convs if not quantized[k]]
    assert len(float_convs) == members and len(convs) > 2 * members
    for k in float_convs:
        source = nodes[nodes[k]["inputs"][0][0]]["name"]
        assert "normalize" in source, source  # fed by the network's own input normalisation: the first one
    dense = [k for k, n in enumerate(nodes) if n["op"] in ("_sg_mkldnn_fully_connected", "FullyConnected")]
    assert dense and not any(quantized[k] for k in dense)
