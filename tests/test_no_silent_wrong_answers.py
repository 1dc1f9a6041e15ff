"""No silent wrong answers: given boxes answered once per face and photo, weights and ONNX files that must
belong to their export, inputs never written over, damaged photos never answered, and errors that end with one
line naming the file."""
import hashlib
import json
import os
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLES = os.path.join(ROOT, "deploy", "samples")
SHIPPED = os.path.join(ROOT, "deploy", "models", "course21", "model")


def _course21_line(name, box):
    """A course21 label line: ``name``, the box and 21 points spread inside it."""
    x1, y1, x2, y2 = box
    pts = [(x1 + (x2 - x1) * (0.2 + 0.6 * (k % 7) / 6), y1 + (y2 - y1) * (0.3 + 0.4 * (k // 7) / 2)) for k in range(21)]
    return " ".join([name] + ["%g" % v for v in box] + ["%.1f %.1f" % p for p in pts])


def _analyze(args):
    from deploy import analyze
    return analyze.main(args + ["--keep_nonfaces", "--no_refit"])


def _lines(out):
    return [json.loads(line) for line in open(os.path.join(out, "results.jsonl"))]


def _md5(path):
    return hashlib.md5(open(path, "rb").read()).hexdigest()


# --------------------------------------------------------------------------------------------------------
# --boxes

def test_given_boxes_answer_each_face_once_and_keep_same_named_photos_apart(tmp_path):
    """Two faces on a photo give two lines (not four); ``a/p.jpg`` and ``b/p.jpg`` each get their own boxes."""
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        shutil.copy(os.path.join(SAMPLES, "faces_1.jpg"), tmp_path / d / "p.jpg")
    boxes = {"a/p.jpg": [(20, 30, 120, 130), (200, 40, 300, 140)], "b/p.jpg": [(50, 60, 170, 180)]}
    labels = tmp_path / "label.txt"
    labels.write_text("\n".join(_course21_line(n, b) for n, bs in boxes.items() for b in bs) + "\n")
    out = str(tmp_path / "out")
    summary = _analyze([str(tmp_path / "a" / "p.jpg"), str(tmp_path / "b" / "p.jpg"), "--boxes", str(labels),
                        "--out", out])
    got = {}
    for line in _lines(out):
        got.setdefault(os.path.relpath(line["source"], str(tmp_path)), []).append(tuple(line["box"]))
    assert {k: sorted(v) for k, v in got.items()} == {k: sorted(map(tuple, map(lambda b: map(float, b), v)))
                                                       for k, v in boxes.items()}
    assert summary["faces_in_photos"] == 3 and not summary["skipped"]


def test_given_boxes_match_a_photo_by_the_end_of_its_path_when_the_label_file_lies_elsewhere(tmp_path):
    (tmp_path / "imgs" / "0--Parade").mkdir(parents=True)
    shutil.copy(os.path.join(SAMPLES, "faces_1.jpg"), tmp_path / "imgs" / "0--Parade" / "x.jpg")
    (tmp_path / "labels").mkdir()
    labels = tmp_path / "labels" / "label.txt"
    labels.write_text(_course21_line("0--Parade/x.jpg", (20, 30, 120, 130)) + "\n")
    out = str(tmp_path / "out")
    summary = _analyze([str(tmp_path / "imgs" / "0--Parade" / "x.jpg"), "--boxes", str(labels), "--out", out])
    assert [line["box"] for line in _lines(out)] == [[20.0, 30.0, 120.0, 130.0]] and not summary["skipped"]


def test_a_photo_the_label_file_does_not_name_is_skipped_with_the_reason_not_answered_empty(tmp_path):
    for name in ("named.jpg", "unnamed.jpg"):
        shutil.copy(os.path.join(SAMPLES, "faces_1.jpg"), tmp_path / name)
    labels = tmp_path / "label.txt"
    labels.write_text(_course21_line("named.jpg", (20, 30, 120, 130)) + "\nnamed.jpg 1 2 3\n")
    out = str(tmp_path / "out")
    summary = _analyze([str(tmp_path / "named.jpg"), str(tmp_path / "unnamed.jpg"), "--boxes", str(labels),
                        "--out", out])
    reasons = {(os.path.basename(s["source"]), s.get("line")): s["reason"] for s in summary["skipped"]}
    assert "not in the label file" in reasons[("unnamed.jpg", None)]
    assert "expected 47 tokens" in reasons[("label.txt", 2)]  # the bad label line is named too
    assert [os.path.basename(line["source"]) for line in _lines(out)] == ["named.jpg"]


def test_given_boxes_with_a_video_are_refused_before_any_work_naming_the_video(tmp_path):
    from tools.synth.formats import write_video
    write_video(str(tmp_path / "v"), 1, seed=2, frames=3, faces=(1, 1))
    labels = tmp_path / "label.txt"
    labels.write_text(_course21_line("x.jpg", (20, 30, 120, 130)) + "\n")
    with pytest.raises(SystemExit, match="--boxes.*video_000.mp4.*use a detector"):
        _analyze([str(tmp_path / "v" / "video_000.mp4"), "--boxes", str(labels), "--out", str(tmp_path / "o")])
    with pytest.raises(SystemExit, match="camera 0"):
        _analyze(["--camera", "0", "--boxes", str(labels), "--out", str(tmp_path / "o")])


def test_a_photo_named_twice_is_answered_once(tmp_path):
    shutil.copy(os.path.join(SAMPLES, "faces_1.jpg"), tmp_path / "p.jpg")
    out = str(tmp_path / "out")
    summary = _analyze([str(tmp_path / "p.jpg"), str(tmp_path), "--detector", "dlib", "--out", out])
    assert summary["photos"] == 1 and "answered once" in summary["skipped"][0]["reason"]
    assert len(_lines(out)) == summary["faces_in_photos"] > 0


# --------------------------------------------------------------------------------------------------------
# inputs are never written over, outputs never over each other

def test_drawn_outputs_never_write_over_an_input_or_each_other(tmp_path):
    from tools.synth.formats import write_video
    write_video(str(tmp_path / "a"), 1, seed=2, frames=3, faces=(1, 1))
    os.rename(tmp_path / "a" / "video_000.mp4", tmp_path / "a" / "clip.mp4")
    write_video(str(tmp_path / "b"), 1, seed=3, frames=3, faces=(1, 1))
    os.rename(tmp_path / "b" / "video_000.mp4", tmp_path / "b" / "clip.avi")
    for d in ("a", "b"):
        shutil.copy(os.path.join(SAMPLES, "faces_%d.jpg" % (1 if d == "a" else 2)), tmp_path / d / "p.jpg")
    inputs = [str(tmp_path / "a" / "clip.mp4"), str(tmp_path / "b" / "clip.avi"), str(tmp_path / "a" / "p.jpg"),
              str(tmp_path / "b" / "p.jpg")]
    before = {p: _md5(p) for p in inputs}
    out = str(tmp_path / "a")  # --out the first video's own folder
    summary = _analyze(inputs + ["--detector", "dlib", "--out", out])
    assert {p: _md5(p) for p in inputs} == before  # every input as it was
    drawn = summary["drawn"]
    assert len(set(drawn.values())) == 4 and not set(map(os.path.realpath, drawn.values())) & set(inputs)
    assert drawn[inputs[0]] == os.path.join(out, "clip-2.mp4")  # clip.mp4 is the input itself
    assert drawn[inputs[1]] == os.path.join(out, "clip-3.mp4")  # and clip-2.mp4 the first video's drawing
    assert drawn[inputs[3]] == os.path.join(out, "drawn", "p-2.jpg")
    for path in drawn.values():
        assert os.path.getsize(path) > 0
    frames = cv2.VideoCapture(drawn[inputs[1]])
    assert int(frames.get(cv2.CAP_PROP_FRAME_COUNT)) == 3


def test_predict_never_answers_a_cut_short_photo_and_never_writes_over_its_inputs(tmp_path, capsys):
    from deploy import predict
    shutil.copy(os.path.join(SAMPLES, "faces_1.jpg"), tmp_path / "whole.jpg")
    data = open(os.path.join(SAMPLES, "faces_2.jpg"), "rb").read()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])  # decodes (grey-filled) but is not whole
    labels = tmp_path / "label.txt"
    labels.write_text(_course21_line("whole.jpg", (20, 30, 120, 130)) + "\n" +
                      _course21_line("cut.jpg", (20, 30, 120, 130)) + "\n")
    out = tmp_path / "preds.jsonl"
    written = predict.main(["--model", SHIPPED, "--labels", str(labels), "--format", "course21", "--out", str(out),
                            "--draw", str(tmp_path)])
    lines = [json.loads(line) for line in open(out)]
    assert written == 1 and [line["image"] for line in lines] == ["whole.jpg"]
    err = capsys.readouterr().err
    assert "label.txt:2:" in err and "cut.jpg" in err and "cut short" in err
    assert _md5(tmp_path / "whole.jpg") == _md5(os.path.join(SAMPLES, "faces_1.jpg"))  # --draw is its folder
    assert os.path.exists(tmp_path / "whole-2.jpg")
    with pytest.raises(SystemExit, match="one of the inputs"):
        predict.main(["--model", SHIPPED, "--labels", str(labels), "--format", "course21", "--out", str(labels)])


# --------------------------------------------------------------------------------------------------------
# weights and ONNX files that belong to their export

def _copy_export(src, dst, onnx=True):
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    for suffix in ("-symbol.json", "-0000.params", "-meta.json") + ((".onnx",) if onnx else ()):
        shutil.copy(src + suffix, dst + suffix)
    return dst


def _small_export(prefix, seed, onnx=False):
    import mxnet as mx
    from symbols import get_model
    from train.export import export_network, export_onnx
    os.makedirs(os.path.dirname(prefix), exist_ok=True)
    mx.random.seed(seed)
    net = get_model("course_stage1")
    net.initialize(mx.init.Xavier(magnitude=2.0))
    net(mx.nd.zeros((1, 1, 112, 112)))
    meta = {"task": "landmarks", "schema": "course21", "model": "course_stage1", "crop": {"expand": 0.25},
            "input": {"name": "data", "shape": [1, 1, 112, 112]}, "outputs": [{"name": "landmarks"}]}
    export_network(net, meta, prefix)
    if onnx:
        export_onnx(prefix)
    return prefix


def test_an_onnx_file_of_other_weights_is_refused_and_auto_leaves_it_out(tmp_path):
    from deploy.predictor import Predictor
    from recordio.errors import BadModelFile
    a = _small_export(str(tmp_path / "a" / "model"), 1, onnx=True)
    b = _small_export(str(tmp_path / "b" / "model"), 2, onnx=True)
    shutil.copy(a + ".onnx", b + ".onnx")  # a stale file: the previous training's network
    with pytest.raises(BadModelFile, match=r"b/model.onnx was not converted from this export's weights.*--onnx_of"):
        Predictor(b, backend="onnxruntime")
    p = Predictor(b, backend="auto")
    assert p.backend != "onnxruntime" and "not converted" in p.timings["onnxruntime"]
    x = np.random.default_rng(0).uniform(0, 255, (2, 1, 112, 112)).astype(np.float32)
    np.testing.assert_allclose(p.raw(x)[0], Predictor(b, backend=p.backend).raw(x)[0], rtol=1e-5, atol=1e-6)
    mine, stale = p.raw(x)[0], Predictor(a, backend="onnxruntime").raw(x)[0]
    assert np.abs(stale - mine).max() > 0.1 * np.abs(mine).max()  # what the stale file would have answered


def test_an_onnx_file_from_before_the_digest_is_refused(tmp_path):
    """An export and its ONNX file must prove they belong together: without the digest they cannot."""
    import onnx
    from deploy.predictor import Predictor
    from recordio.errors import BadModelFile
    a = _small_export(str(tmp_path / "a" / "model"), 1, onnx=True)
    model = onnx.load(a + ".onnx")
    del model.metadata_props[:]
    onnx.save(model, a + ".onnx")
    with pytest.raises(BadModelFile, match="not converted from this export's weights"):
        Predictor(a, backend="onnxruntime")


def test_weights_replaced_after_export_are_refused_by_every_backend(tmp_path):
    from deploy.predictor import Predictor
    from recordio.errors import BadModelFile
    a = _small_export(str(tmp_path / "a" / "model"), 1, onnx=True)
    b = _small_export(str(tmp_path / "b" / "model"), 2)
    shutil.copy(b + "-0000.params", a + "-0000.params")
    for backend in ("mxnet", "mkldnn", "onnxruntime"):
        with pytest.raises(BadModelFile, match="a/model-0000.params is not the file .*was exported with"):
            Predictor(a, backend=backend)
    with pytest.raises(BadModelFile, match="no backend could run it"):
        Predictor(a, backend="auto")


def test_re_exporting_removes_the_onnx_file_of_the_weights_it_replaces(tmp_path):
    from train.export import export_ensemble
    a = _small_export(str(tmp_path / "run" / "model"), 1, onnx=True)
    assert os.path.exists(a + ".onnx")
    _small_export(a, 2)  # retrained and exported again, without --onnx
    assert not os.path.exists(a + ".onnx")
    b = _small_export(str(tmp_path / "b" / "model"), 3)
    ens = export_ensemble([a, b], str(tmp_path / "ens" / "model"), onnx=True)
    assert os.path.exists(ens + ".onnx")
    export_ensemble([a, b], ens)
    assert not os.path.exists(ens + ".onnx")


def test_overwrite_removes_the_old_runs_onnx_file(tmp_path, course21_archive):
    from train import train_landmarks
    out = str(tmp_path / "run")
    common = ["--train", course21_archive[0], "--out", out, "--model", "course_stage1", "--epochs", "1",
              "--max_batches", "1", "--num_workers", "0", "--log_interval", "0"]
    train_landmarks.main(common + ["--onnx"])
    assert os.path.exists(os.path.join(out, "model.onnx"))
    train_landmarks.main(common + ["--overwrite"])
    assert not os.path.exists(os.path.join(out, "model.onnx"))


def test_export_without_its_trained_weights_stops_naming_the_file_and_writes_nothing(tmp_path, course21_archive):
    from train import export, train_landmarks
    from recordio.errors import MissingFile
    out = str(tmp_path / "run")
    train_landmarks.main(["--train", course21_archive[0], "--out", out, "--model", "course_stage1", "--epochs", "1",
                          "--max_batches", "1", "--num_workers", "0", "--log_interval", "0", "--no_export"])
    with pytest.raises(MissingFile, match="run/bset.params not found: no trained weights"):
        export.main([out, "--params", os.path.join(out, "bset.params")])
    os.remove(os.path.join(out, "best.params"))
    with pytest.raises(MissingFile, match="run/best.params not found"):
        export.main([out])
    assert not os.path.exists(os.path.join(out, "model-meta.json"))


# --------------------------------------------------------------------------------------------------------
# errors that end with one line naming the file

def _run(script, *args):
    return subprocess.run([sys.executable, os.path.join(ROOT, script)] + list(args), capture_output=True, text=True,
                          timeout=300, cwd=ROOT)


def _one_error_line(done):
    """The error line of a run that ended on the project's own error: exit 2, one line, no traceback."""
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, done.stderr[-2000:]
    return lines[0]


def test_a_missing_archive_ends_with_one_line_naming_it_and_debug_shows_the_traceback(tmp_path):
    missing = str(tmp_path / "nope")
    line = _one_error_line(_run("deploy/score.py", "--model", SHIPPED, "--archive", missing, "--out", str(tmp_path)))
    assert missing + ".meta.json" in line
    done = _run("deploy/score.py", "--model", SHIPPED, "--archive", missing, "--out", str(tmp_path), "--debug")
    assert done.returncode != 2 and "Traceback" in done.stderr and "ArchiveError" in done.stderr


def test_a_truncated_archive_ends_with_one_line_naming_the_file_and_record(tmp_path, course21_archive):
    for ext in (".idx", ".meta.json"):
        shutil.copy(course21_archive[1] + ext, str(tmp_path / "cut") + ext)
    data = open(course21_archive[1] + ".rec", "rb").read()
    (tmp_path / "cut.rec").write_bytes(data[: len(data) // 2])
    line = _one_error_line(_run("deploy/score.py", "--model", SHIPPED, "--archive", str(tmp_path / "cut"), "--out",
                                str(tmp_path / "s")))
    assert "cut.rec" in line and "record" in line
    line = _one_error_line(_run("train/train_landmarks.py", "--train", str(tmp_path / "cut"), "--out",
                                str(tmp_path / "r"), "--model", "course_stage1", "--epochs", "1", "--num_workers", "0"))
    assert "cut.rec" in line


def test_a_cut_short_params_file_ends_with_one_line_naming_it(tmp_path):
    prefix = _copy_export(SHIPPED, str(tmp_path / "m" / "model"), onnx=False)
    meta = json.load(open(prefix + "-meta.json"))
    del meta["params_sha256"]  # as an export from before the digest: MXNet itself meets the cut file
    json.dump(meta, open(prefix + "-meta.json", "w"))
    data = open(prefix + "-0000.params", "rb").read()
    open(prefix + "-0000.params", "wb").write(data[: len(data) // 3])
    line = _one_error_line(_run("deploy/analyze.py", SAMPLES, "--landmarks", prefix, "--out", str(tmp_path / "o")))
    assert prefix + "-0000.params" in line and "cannot be loaded" in line


def test_a_gpu_that_is_not_there_ends_with_one_line(tmp_path, course21_archive):
    from recordio.devices import compute_capabilities
    if compute_capabilities():
        pytest.skip("this machine has a GPU")
    line = _one_error_line(_run("train/train_landmarks.py", "--train", course21_archive[0], "--out",
                                str(tmp_path / "r"), "--gpu_ids", "0", "--model", "course_stage1"))
    assert "--gpu_ids 0" in line and "CPU" in line


# --------------------------------------------------------------------------------------------------------
# the same batches for any number of loader workers

def test_the_same_seed_draws_the_same_batches_for_any_number_of_workers_over_epochs_that_roll_over(course21_archive):
    """Every epoch's batches, not just the first's: with a shard that batches do not divide, each epoch's last
    partial batch rolls over into the next, and the loader workers read ahead."""
    from train import train_landmarks
    from train.landmark_task import LandmarkTask
    from train.loop import train_loader
    args = train_landmarks.parse_args(["--train", course21_archive[0], "--out", "unused", "--model", "course_stage1"])
    task = LandmarkTask(args)
    batch = 7
    steps = None

    def epochs(workers, n=4):
        nonlocal steps
        ds, _ = task.datasets(args, 0, 1, seed=(5, 0))
        assert len(ds) % batch  # a partial batch at every epoch's end
        steps = len(ds) // batch
        loader = train_loader(ds, batch, workers, (5, 0), steps)
        return [[(x.asnumpy(), y.asnumpy()) for x, y in loader] for _ in range(n)]

    a, b = epochs(0), epochs(2)
    assert [len(e) for e in a] == [steps] * 4
    for ea, eb in zip(a, b):
        for (xa, ya), (xb, yb) in zip(ea, eb):
            np.testing.assert_array_equal(xa, xb)
            np.testing.assert_array_equal(ya, yb)


def test_epoch_batches_roll_each_pass_over_into_the_next_and_cover_every_sample():
    from train.loop import EpochBatches
    n, batch, steps = 10, 4, 2  # 8 of each pass's 10 samples fill an epoch; the 2 left lead the next one
    eb = EpochBatches(n, batch, steps, (3, 0))
    stream = np.concatenate([eb.pass_order(p) for p in range(3)])
    for epoch in range(3):
        keys = np.concatenate(eb.batches(epoch))
        np.testing.assert_array_equal(keys, stream[epoch * 8:(epoch + 1) * 8])
    assert sorted(stream[:10] % n) == list(range(n)) and set(stream[10:20] // n) == {1}
    assert [np.concatenate(b).tolist() for b in (list(eb), list(eb))] == [np.concatenate(eb.batches(e)).tolist()
                                                                          for e in (0, 1)]
    big = EpochBatches(3, 5, 1, (0, 0))  # a batch larger than the shard: filled from two passes
    assert [k // 3 for k in big.batches(0)[0]] == [0, 0, 0, 1, 1]
