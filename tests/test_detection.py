"""Face detection: archives in gluoncv's format, the SSD and its export, detection metrics, the recipe."""
import os
import subprocess
import sys

import mxnet as mx
import numpy as np
import pytest

from recordio import metrics
from recordio.dataset import ArchiveReader
from recordio.schema import detection_layout
from tools import make_rec

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_a_repeated_last_field_packs_any_number_of_rows_and_reads_them_back():
    L = detection_layout()
    rows = np.array([[0, 0.1, 0.2, 0.3, 0.4], [0, 0.5, 0.5, 0.9, 0.8]])
    label = L.pack(header=(2, 5), faces=rows)
    assert label.size == 12 and L.fits(12) and L.fits(2) and not L.fits(9)
    np.testing.assert_allclose(L.get(label, "faces"), rows, rtol=1e-6)
    np.testing.assert_allclose(L.get(L.pack(header=(2, 5)), "faces"), np.zeros((0, 5)))


def test_detection_archives_are_gluoncvs_format_and_split_as_the_landmark_archives(tmp_path, synth_course21):
    from gluoncv.data import RecordFileDetection
    src, _ = synth_course21
    det, lmk = str(tmp_path / "det"), str(tmp_path / "lmk")
    make_rec.main(["detection", os.path.join(src, "I"), "--out", det, "--test_ratio", "0.3", "--val_ratio", "0.2",
                   "-j", "1"])
    make_rec.main(["course21", os.path.join(src, "I"), "--out", lmk, "--test_ratio", "0.3", "--val_ratio", "0.2",
                   "-j", "1", "--neg_ratio", "0"])
    for split in ("train", "val", "test"):
        photos = {s["image"] for s in ArchiveReader(os.path.join(det, split)).meta["sources"]}
        assert photos == {s["image"] for s in ArchiveReader(os.path.join(lmk, split)).meta["sources"]}
    r = ArchiveReader(os.path.join(det, "test"))
    img, label = r.read(0)
    boxes = r.layout.get(label, "faces")
    gcv_img, gcv_label = RecordFileDetection(os.path.join(det, "test.rec"))[0]
    h, w = img.shape[:2]
    np.testing.assert_allclose(gcv_label[:, :4], boxes[:, 1:] * [w, h, w, h], atol=1e-3)  # gluoncv: x1 y1 x2 y2 id
    assert (gcv_label[:, 4] == 0).all() and gcv_img.shape[:2] == (h, w)
    it = mx.io.ImageDetRecordIter(path_imgrec=os.path.join(det, "test.rec"), data_shape=(3, 64, 64), batch_size=1)
    assert it.next().label[0].shape[0] == 1


def test_a_label_that_is_not_whole_rows_is_named(tmp_path):
    from recordio.writer import ArchiveWriter
    w = ArchiveWriter(str(tmp_path / "d"), {"task": "detection", "label_layout_obj": detection_layout(),
                                            "image": {"channels": 3}})
    with pytest.raises(ValueError, match="label has 9 floats"):
        w.write(np.zeros(9), b"")
    w.abort()


def test_detection_report_hand_computed():
    truths = [np.array([[0, 0, 10, 10], [20, 20, 30, 30]]), np.array([[0, 0, 10, 10]])]
    preds = [(np.array([[0, 0, 10, 10], [50, 50, 60, 60], [20, 21, 30, 31]]), np.array([0.9, 0.8, 0.3])),
             (np.array([[1, 0, 11, 10]]), np.array([0.7]))]
    rep = metrics.detection_report(preds, truths, score_threshold=0.5)
    # by score: 0.9 hit, 0.8 miss, 0.7 hit, 0.3 hit -> recall 1/3, 1/3, 2/3, 1; precision 1, 1/2, 2/3, 3/4
    # envelope: 1, 3/4, 3/4, 3/4 -> AP = 1/3 * 1 + 1/3 * 3/4 + 1/3 * 3/4
    assert rep["ap50"] == pytest.approx((1 + 0.75 + 0.75) / 3)
    assert rep["recall"] == pytest.approx(2 / 3) and rep["false_per_photo"] == pytest.approx(0.5)


def test_face_ssd_export_decodes_what_the_network_predicts(tmp_path):
    from deploy.mxdetect import MXNetDetector
    from symbols import get_model
    from symbols.detect import SSDDecoder
    from train.export import export_network
    net = get_model("face_ssd", input_size=128, min_size=8.0)
    net.initialize(mx.init.Xavier())
    x = np.random.default_rng(0).uniform(0, 255, (2, 3, 128, 128)).astype(np.float32)
    with mx.autograd.predict_mode():
        raw = net(mx.nd.array(x))
    ref = [o.asnumpy() for o in SSDDecoder(1)(*raw)]
    meta = {"task": "detection", "input": {"name": "data", "shape": [1, 3, 128, 128]},
            "outputs": [{"name": n} for n in ("ids", "scores", "boxes")],
            "box_convention": "course21 annotators' boxes"}
    prefix = export_network(net, meta, str(tmp_path / "det"))
    det = MXNetDetector(prefix, min_score=0.0)
    assert det.box_map == (0.0, 0.0, 1.0, 1.0)  # it learnt the annotators' boxes: they need no map
    out = det.predictor.raw(x)
    for a, b in zip(out, ref):
        np.testing.assert_allclose(a, b, atol=1e-4)
    photo = np.random.default_rng(1).integers(0, 255, (100, 200, 3), dtype=np.uint8)
    boxes, scores = det.raw(photo)
    assert boxes.shape[1] == 4 and (boxes[:, 2] <= 200 * 1.5).all()  # photo px: the 128 px input scaled back


def test_face_detector_recipe_runs_every_step(tmp_path):
    from tools.synth.formats import write_course21
    write_course21(str(tmp_path / "data"), 20, seed=9)
    env = dict(os.environ, QUICK="1", PYTHON=sys.executable, SIZE="128")
    done = subprocess.run(["bash", os.path.join(ROOT, "train", "recipes", "face_detector.sh"),
                           str(tmp_path / "data" / "I"), str(tmp_path / "out")], env=env, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert os.path.exists(tmp_path / "out" / "run" / "model-symbol.json")
    import json
    assert "mxnet" in json.load(open(tmp_path / "out" / "boxmaps.json"))


def test_a_detector_without_a_box_map_is_refused_naming_how_to_fit_one(tmp_path, monkeypatch):
    """A detector export that learnt boxes of another convention, with no fitted map, would hand the landmark
    model crops it never learnt: it is refused, and the message says how to fit a map."""
    from deploy import detect, detector_base
    from deploy.mxdetect import MXNetDetector
    from recordio.errors import BadInput
    from symbols import get_model
    from train.export import export_network
    monkeypatch.setattr(detector_base, "BOXMAPS", str(tmp_path / "none.json"))  # no fitted maps at all
    net = get_model("face_ssd", input_size=128, min_size=8.0)
    net.initialize(mx.init.Xavier())
    meta = {"task": "detection", "input": {"name": "data", "shape": [1, 3, 128, 128]},
            "outputs": [{"name": n} for n in ("ids", "scores", "boxes")], "box_convention": "WIDER FACE boxes"}
    prefix = export_network(net, meta, str(tmp_path / "det"))
    with pytest.raises(BadInput, match="no box map.*fit_boxmap.py mxnet"):
        MXNetDetector(prefix)
    assert MXNetDetector(prefix, box_map=(0.0, 0.1, 1.2, 1.2)).box_map == (0.0, 0.1, 1.2, 1.2)  # a given map is used
    onnx = tmp_path / "yunet.onnx"
    onnx.write_bytes(b"not read before the box map is checked")
    with pytest.raises(BadInput, match="yunet detector has no box map.*fit_boxmap.py yunet"):
        detect.make_detector("yunet", yunet=str(onnx))
