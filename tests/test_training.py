import json
import os

import mxnet as mx
import numpy as np
import pytest

from train import train_landmarks

FAST = ["--num_workers", "0", "--log_interval", "0", "--flip_prob", "0", "--rotate", "0", "--zoom", "0", "--shift", "0",
        "--color", "0", "--gray", "0", "--warmup_epochs", "0"]


def _fit(tmp_path, name, archives, *extra):
    train, test = archives
    out = str(tmp_path / name)
    args = ["--train", train, "--out", out, "--model", "course_stage1", "--epochs", "1"] + FAST + list(extra)
    return out, train_landmarks.main(args)


def _params(path):
    return {k: v.asnumpy() for k, v in mx.nd.load(path).items()}


def test_one_step_on_two_cpu_contexts_equals_one_context(tmp_path, course21_archive):
    common = ["--max_batches", "1", "--optimizer", "sgd", "--lr", "0.05", "--momentum", "0", "--wd", "0",
              "--lr_mode", "step", "--no_export"]
    a, _ = _fit(tmp_path, "two", course21_archive, "--gpu_ids", "cpu:0,cpu:1", "--batch_size", "4", *common)
    b, _ = _fit(tmp_path, "one", course21_archive, "--gpu_ids", "", "--batch_size", "8", *common)
    pa, pb = _params(os.path.join(a, "last.params")), _params(os.path.join(b, "last.params"))
    assert pa.keys() == pb.keys()
    init = mx.nd.load(os.path.join(a, "last.params"))
    for k in pa:
        np.testing.assert_allclose(pa[k], pb[k], rtol=1e-4, atol=1e-6)
    assert len(init) > 10


def test_export_gives_the_trained_networks_outputs(tmp_path, course21_archive):
    from deploy.predictor import Predictor
    from train.landmark_task import LandmarkTask
    out, _ = _fit(tmp_path, "run", course21_archive, "--model", "course_stage3", "--max_batches", "2",
                  "--val", course21_archive[1])
    args = train_landmarks.parse_args(["--train", course21_archive[0], "--out", out, "--model", "course_stage3"])
    net = LandmarkTask(args).network(args)
    net.load_parameters(os.path.join(out, "best.params"), ctx=mx.cpu())
    x = np.random.default_rng(0).uniform(0, 255, (5, 1, 112, 112)).astype(np.float32)
    lmk, logits = net(mx.nd.array(x))
    for mkldnn, tol in ((False, 1e-5), (True, 1e-3)):
        p = Predictor(os.path.join(out, "model"), mkldnn=mkldnn)
        raw = p.raw(x)
        np.testing.assert_allclose(raw[0], lmk.asnumpy(), atol=tol)
        np.testing.assert_allclose(raw[1], mx.nd.softmax(logits).asnumpy(), atol=tol)
    meta = json.load(open(os.path.join(out, "model-meta.json")))
    assert meta["input"]["shape"] == [1, 1, 112, 112] and meta["crop"]["expand"] == 0.25


def test_an_export_that_differs_from_its_params_file_is_caught_naming_the_weight(tmp_path, course21_archive):
    from train.export import check_export, export_run
    from train.landmark_task import LandmarkTask
    from train.task import warm_up
    from train.tasks import read_run_args
    out, _ = _fit(tmp_path, "run", course21_archive, "--model", "course_stage3_cnn_hm", "--max_batches", "2")
    # the loop checked its own export; export the run again, as train/export.py does, with a network at hand
    args = read_run_args(out)
    task = LandmarkTask(args)
    net = task.network(args)
    net.initialize(ctx=mx.cpu())
    warm_up(net, mx.cpu(), task.input_shape)
    prefix = export_run(task, args, net, out)
    params = mx.nd.load(os.path.join(out, "best.params"))
    check_export(net, os.path.join(out, "best.params"), prefix)  # the export holds best.params' weights
    upsample = [name for name, v in params.items() if v.ndim == 4 and name.startswith("head.")][0]
    params[upsample] = params[upsample].transpose((1, 0, 2, 3))  # scrambled as MXNet once left it
    mx.nd.save(str(tmp_path / "other.params"), params)
    named = net._collect_params_with_prefix()[upsample].name[len(net.prefix):]
    with pytest.raises(RuntimeError, match=r"differs from .*other.params in coursecnn\d+_%s:" % named):
        check_export(net, str(tmp_path / "other.params"), prefix)


def test_flip_averaging_is_mirror_symmetric(tmp_path, course21_archive):
    """Averaging with the mirrored crop: mirroring the input mirrors the answer (points swap sides)."""
    from deploy.predictor import Predictor
    from recordio.schema import COURSE21
    out, _ = _fit(tmp_path, "run", course21_archive, "--model", "course_stage3", "--max_batches", "2")
    plain, flip = Predictor(os.path.join(out, "model")), Predictor(os.path.join(out, "model"), flip=True)
    x = np.random.default_rng(1).uniform(0, 255, (4, 1, 112, 112)).astype(np.float32)
    xm = x[..., ::-1].copy()

    def unmirror(lmk):
        pts = lmk.reshape(len(lmk), -1, 2).copy()
        pts[..., 0] = 1.0 - pts[..., 0]
        return pts[:, list(COURSE21.flip_perm)].reshape(len(lmk), -1)

    a, am = plain.raw(x), plain.raw(xm)
    f, fm = flip.raw(x), flip.raw(xm)
    np.testing.assert_allclose(f[0], 0.5 * (a[0] + unmirror(am[0])), atol=1e-6)
    np.testing.assert_allclose(f[1], 0.5 * (a[1] + am[1]), atol=1e-6)
    np.testing.assert_allclose(unmirror(fm[0]), f[0], atol=1e-5)
    assert np.abs(f[0] - a[0]).max() > 1e-4  # the mirrored pass did change the answer
    with pytest.raises(ValueError, match="landmark"):
        meta = json.load(open(os.path.join(out, "model-meta.json")))
        json.dump({**meta, "task": "gaze"}, open(os.path.join(out, "model-meta.json"), "w"))
        Predictor(os.path.join(out, "model"), flip=True)


def test_landmark_output_starts_at_the_mean_shape(tmp_path, course21_archive):
    from recordio.dataset import ArchiveReader, mean_shape
    args = train_landmarks.parse_args(["--train", course21_archive[0], "--out", str(tmp_path), "--model",
                                       "course_stage3_cnn"])  # (course_stage1 starts as the course's net does)
    from train.landmark_task import LandmarkTask
    task = LandmarkTask(args)
    net = task.network(args)
    net.initialize(mx.init.Xavier(magnitude=2))
    x = mx.nd.array(np.random.default_rng(2).uniform(0, 255, (8, 1, 112, 112)))
    before = net(x)[0].asnumpy()
    train_ds, _ = task.datasets(args, 0, 1)
    task.init_network(net, train_ds)
    after = net(x)[0].asnumpy()
    mean = mean_shape(ArchiveReader(course21_archive[0])).ravel()
    np.testing.assert_allclose(net.head[-1].bias.data().asnumpy(), mean, rtol=1e-6)
    assert np.abs(after - mean).mean() < 0.2 * np.abs(before - mean).mean()


def test_score_reproduces_the_nme_training_reported(tmp_path, course21_archive):
    from deploy import score
    out, best = _fit(tmp_path, "run", course21_archive, "--max_batches", "3", "--val", course21_archive[1])
    # one pass, as training validates (score.py's default second look turns faces its points call rolled upright;
    # this barely trained course_stage1, whose points start at the crop's corner, calls every face rolled)
    summary = score.main(["--model", os.path.join(out, "model"), "--archive", course21_archive[1], "--out",
                          str(tmp_path / "score"), "--baseline_train", course21_archive[0], "--no_upright"])
    np.testing.assert_allclose(summary["nme"], best["nme"], rtol=1e-5)
    np.testing.assert_allclose(summary["fr"], best["fr"])
    assert summary["mean_shape_baseline"]["count"] == summary["count"] > 0
    rows = open(os.path.join(str(tmp_path / "score"), "per_face.csv")).read().splitlines()
    assert len(rows) == 1 + summary["faces"] + summary["non_faces"]


def test_pfld_export_keeps_only_the_landmarks(tmp_path):
    from symbols import get_model
    from train.export import export_network
    net = get_model("pfld_0.25")
    net.initialize()  # fresh: shapes still deferred
    meta = {"task": "landmarks", "input": {"name": "data", "shape": [1, 3, 112, 112]},
            "outputs": [{"name": "landmarks"}]}
    prefix = export_network(net, meta, str(tmp_path / "pfld"))
    sym = mx.sym.load(prefix + "-symbol.json")
    assert len(sym.list_outputs()) == 1
    saved = {k.split(":", 1)[1] for k in mx.nd.load(prefix + "-0000.params")}
    aux = set(net.aux.collect_params().keys())
    assert len(aux) > 10 and not saved & aux
    assert saved == set(net.collect_params().keys()) - aux


def test_finetune_keeps_frozen_layers(tmp_path, course21_archive):
    base, _ = _fit(tmp_path, "base", course21_archive, "--max_batches", "1", "--no_export")
    ft, _ = _fit(tmp_path, "ft", course21_archive, "--max_batches", "2", "--no_export",
                 "--finetune", os.path.join(base, "last.params"), "--freeze", "trunk")
    before, after = _params(os.path.join(base, "last.params")), _params(os.path.join(ft, "last.params"))
    frozen = [k for k in before if "trunk" in k]
    assert frozen and all(np.array_equal(before[k], after[k]) for k in frozen)
    assert any(not np.array_equal(before[k], after[k]) for k in before if "trunk" not in k)


def test_resume_continues_from_the_last_epoch(tmp_path, course21_archive):
    out, _ = _fit(tmp_path, "run", course21_archive, "--max_batches", "1", "--no_export")
    _fit(tmp_path, "run", course21_archive, "--max_batches", "1", "--no_export", "--epochs", "2", "--resume")
    rows = open(os.path.join(out, "metrics.csv")).read().splitlines()
    assert len(rows) == 3 and json.load(open(os.path.join(out, "state.json")))["epoch"] == 1


def test_run_directory_has_the_design_files(tmp_path, course21_archive):
    out, _ = _fit(tmp_path, "run", course21_archive, "--max_batches", "1", "--val", course21_archive[1])
    for name in ("args.json", "train.log", "metrics.csv", "best.params", "last.params", "curves.png",
                 "model-symbol.json", "model-0000.params", "model-meta.json"):
        assert os.path.exists(os.path.join(out, name)), name
    args = json.load(open(os.path.join(out, "args.json")))
    assert args["versions"]["mxnet"] == mx.__version__ and args["archive_meta_sha256"]["train"]


def test_predict_writes_one_line_per_face_in_photo_pixels_and_no_points_for_nonfaces(tmp_path, course21_archive,
                                                                                      synth_course21):
    from deploy import predict
    from recordio import labelfiles
    src, _ = synth_course21
    out, _ = _fit(tmp_path, "run", course21_archive, "--model", "course_stage3", "--max_batches", "1")
    label = os.path.join(src, "I", "label.txt")
    n = predict.main(["--model", os.path.join(out, "model"), "--labels", label, "--format", "course21",
                      "--out", str(tmp_path / "p.jsonl"), "--keep_nonfaces"])
    lines = [json.loads(l) for l in open(tmp_path / "p.jsonl")]
    entries, _ = labelfiles.read_course21(label)
    assert n == len(lines) == len(entries)
    for rec, e in zip(lines, entries):
        assert rec["image"] == e.image and len(rec["points"]) == 21 and 0 <= rec["face_score"] <= 1
        ex = np.array(rec["box"])
        pts = np.array(rec["points"])
        w = ex[2] - ex[0]
        assert (pts[:, 0] > ex[0] - 2 * w).all() and (pts[:, 0] < ex[2] + 2 * w).all()
    threshold = float(np.median([r["face_score"] for r in lines]))  # about half the crops judged non-face
    predict.main(["--model", os.path.join(out, "model"), "--labels", label, "--format", "course21",
                  "--out", str(tmp_path / "g.jsonl"), "--face_threshold", str(threshold)])
    gated = [json.loads(l) for l in open(tmp_path / "g.jsonl")]
    assert len(gated) == len(lines)
    for g, k in zip(gated, lines):
        assert g["face_score"] == k["face_score"] and ("points" in g) == (g["face_score"] >= threshold)
        if "points" in g:
            assert g["points"] == k["points"]
    assert 0 < sum("points" in g for g in gated) < len(gated)


def test_stage3_scoring_counts_faces_judged_nonface_as_failures(tmp_path, course21_archive):
    from deploy import score
    out, _ = _fit(tmp_path, "run", course21_archive, "--model", "course_stage3", "--max_batches", "1")
    common = ["--model", os.path.join(out, "model"), "--archive", course21_archive[1]]
    every = score.main(common + ["--out", str(tmp_path / "a"), "--keep_nonfaces"])
    none = score.main(common + ["--out", str(tmp_path / "b"), "--face_threshold", "1.01"])
    rows = list(__import__("csv").DictReader(open(tmp_path / "a" / "per_face.csv")))
    scores = np.array([float(r["face_score"]) for r in rows if r["face"] == "1"])
    u = np.unique(scores)
    t = float(0.5 * (u[len(u) // 2 - 1] + u[len(u) // 2]))  # between two scores: about half the faces below
    half = score.main(common + ["--out", str(tmp_path / "c"), "--face_threshold", str(t)])
    assert every["unanswered"] == 0 and none["unanswered"] == none["count"] == every["count"]
    assert none["fr"] == 1.0 and none["auc"] == 0.0
    assert half["unanswered"] == int((scores < t).sum())
    nmes = np.array([float(r["nme"]) for r in rows if r["face"] == "1"])
    np.testing.assert_allclose(half["nme"], nmes[scores >= t].mean(), rtol=1e-5)  # the mean is over answered faces
    np.testing.assert_allclose(half["fr"], np.mean((nmes > 0.1) | (scores < t)), rtol=1e-9)


def test_dist_sync_with_two_local_workers_ends_with_identical_weights(tmp_path, course21_archive):
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = str(tmp_path / "dist")
    cmd = [sys.executable, os.path.join(root, "train", "launch.py"), "-n", "2", "-s", "1", "--timeout", "240", "--",
           sys.executable, os.path.join(root, "train", "train_landmarks.py"), "--train", course21_archive[0],
           "--out", out, "--epochs", "1", "--max_batches", "3", "--batch_size", "4", "--kvstore", "dist_sync",
           "--num_workers", "0", "--no_export", "--log_interval", "0"]
    run = subprocess.run(cmd, timeout=300, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]  # the roles' own messages when one fails
    a, b = _params(os.path.join(out, "last.params")), _params(os.path.join(out, "last-worker1.params"))
    assert a.keys() == b.keys() and len(a) > 10
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    log0 = open(os.path.join(out, "train.log")).read()
    assert "worker 0 of 2" in log0 and "worker 1 of 2" in open(os.path.join(out, "train-worker1.log")).read()


def test_finetune_from_another_networks_checkpoint_stops_with_a_message(tmp_path, course21_archive):
    from symbols import get_model
    other = get_model("pfld_0.25")
    other.initialize()
    other(mx.nd.zeros((1, 3, 112, 112)))
    path = str(tmp_path / "pfld.params")
    other.save_parameters(path)
    with pytest.raises(SystemExit, match="shares no parameter"):
        _fit(tmp_path, "ft", course21_archive, "--max_batches", "1", "--no_export", "--finetune", path)


def test_a_training_archive_smaller_than_half_a_batch_stops_naming_it(tmp_path, course21_archive):
    from recordio.dataset import ArchiveReader
    n = len(ArchiveReader(course21_archive[0]))
    with pytest.raises(SystemExit, match=r"train holds %d training samples.*half a batch of %d.*smaller --batch_size"
                                         % (n, 2 * n + 1)):
        _fit(tmp_path, "big_batch", course21_archive, "--batch_size", str(2 * n + 1), "--no_export")
    # a batch larger than the archive is still filled from two passes (the loader rolls the rest over)
    _fit(tmp_path, "rolled", course21_archive, "--batch_size", str(n + 1), "--no_export", "--max_batches", "1")


def test_another_seed_draws_other_batches_and_each_epoch_draws_afresh(course21_archive):
    """(The same seed's batches for any number of workers, over epochs: test_no_silent_wrong_answers.py.)"""
    from train.loop import train_loader
    args = train_landmarks.parse_args(["--train", course21_archive[0], "--out", "unused", "--model", "course_stage1"])
    from train.landmark_task import LandmarkTask
    task = LandmarkTask(args)

    def first_batch(seed):
        ds, _ = task.datasets(args, 0, 1, seed=(seed, 0))
        return next(iter(train_loader(ds, 8, 0, (seed, 0), 2)))[0].asnumpy()

    assert not np.array_equal(first_batch(5), first_batch(6))
    ds, _ = task.datasets(args, 0, 1, seed=(5, 0))
    loader = train_loader(ds, len(ds), 0, (5, 0), 1)
    e0, e1 = next(iter(loader))[0].asnumpy(), next(iter(loader))[0].asnumpy()
    assert not np.array_equal(e0, e1)


def test_an_out_that_holds_a_run_is_not_reused_without_resume_or_overwrite(tmp_path, course21_archive):
    out, _ = _fit(tmp_path, "run", course21_archive, "--max_batches", "1", "--no_export")
    with pytest.raises(SystemExit, match="already holds a run.*--resume.*--overwrite"):
        _fit(tmp_path, "run", course21_archive, "--max_batches", "1", "--no_export")
    _fit(tmp_path, "run", course21_archive, "--max_batches", "1", "--no_export", "--epochs", "2", "--overwrite")
    rows = open(os.path.join(out, "metrics.csv")).read().splitlines()
    assert len(rows) == 3  # the old run's rows are gone, the new run's two are there


def test_resume_continues_the_learning_rate_schedule(tmp_path, course21_archive, monkeypatch):
    from train import loop
    common = ["--max_batches", "2", "--no_export", "--optimizer", "sgd", "--lr_mode", "cosine",
              "--warmup_epochs", "1", "--lr", "0.01", "--epochs", "4"]
    whole, _ = _fit(tmp_path, "whole", course21_archive, *common)
    checkpoint = loop._Run.checkpoint

    def interrupted(self, net, trainer, epoch, row):
        checkpoint(self, net, trainer, epoch, row)
        if epoch == 1:
            raise KeyboardInterrupt("killed after epoch 1")

    monkeypatch.setattr(loop._Run, "checkpoint", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _fit(tmp_path, "part", course21_archive, *common)
    monkeypatch.setattr(loop._Run, "checkpoint", checkpoint)
    part, _ = _fit(tmp_path, "part", course21_archive, *common, "--resume")

    def lrs(out):
        import csv
        return [float(r["lr"]) for r in csv.DictReader(open(os.path.join(out, "metrics.csv")))]

    np.testing.assert_allclose(lrs(part), lrs(whole), rtol=1e-9)
    assert len(set(lrs(whole))) == 4


def test_constant_learning_rate(tmp_path, course21_archive):
    import csv
    out, _ = _fit(tmp_path, "c", course21_archive, "--max_batches", "2", "--no_export", "--epochs", "3",
                  "--lr_mode", "constant", "--lr", "1e-4")
    assert [float(r["lr"]) for r in csv.DictReader(open(os.path.join(out, "metrics.csv")))] == [1e-4] * 3


def test_stage3_loss_parts_are_logged_and_weighted(tmp_path, course21_archive):
    import csv
    out, _ = _fit(tmp_path, "s3", course21_archive, "--model", "course_stage3", "--max_batches", "2", "--no_export",
                  "--landmark_weight", "2", "--face_weight", "0.5")
    row = next(csv.DictReader(open(os.path.join(out, "metrics.csv"))))
    parts = float(row["train_loss_landmark"]) + float(row["train_loss_face"])
    assert float(row["train_loss_face"]) > 0 and parts == pytest.approx(float(row["train_loss"]), rel=1e-6)
    assert "train_loss_landmark" in open(os.path.join(out, "train.log")).read()


@pytest.mark.parametrize("old,new", [("--flip", "--flip_prob"), ("--scale", "--zoom")])
def test_old_flag_spellings_are_rejected_naming_the_new_one(old, new, capsys):
    with pytest.raises(SystemExit):
        train_landmarks.parse_args(["--out", "x", old, "0.5"])
    assert "%s was renamed %s" % (old, new) in capsys.readouterr().err


def test_pretrained_training_starts_from_the_stores_weights_with_imagenet_normalisation(tmp_path, course21_archive):
    from gluoncv.model_zoo import get_model as gcv_model
    from symbols.common import zoo_file
    store = tmp_path / "store"
    store.mkdir()
    zoo = gcv_model("resnet18_v1b", pretrained=False)
    zoo.initialize(mx.init.Xavier())
    zoo(mx.nd.zeros((1, 3, 64, 64)))
    zoo.save_parameters(zoo_file("resnet18_v1b", str(store)))
    out, _ = _fit(tmp_path, "pre", course21_archive, "--model", "course_stage3_resnet18", "--max_batches", "1",
                  "--pretrained", str(store), "--lr", "0", "--wd", "0", "--batch_size", "4")
    saved = mx.nd.load(zoo_file("resnet18_v1b", str(store)))
    trained = _params(os.path.join(out, "last.params"))
    conv1 = [v for k, v in trained.items() if k.endswith("features.0.weight")][0]
    np.testing.assert_allclose(conv1, saved["conv1.weight"].asnumpy().sum(axis=1, keepdims=True), atol=1e-7)
    assert "ImageNet weights: resnet18_v1b" in open(os.path.join(out, "train.log")).read()
    from deploy.predictor import Predictor
    from symbols import get_model
    net = get_model("course_stage3_resnet18", norm="imagenet")
    net.load_parameters(os.path.join(out, "best.params"))
    x = np.random.default_rng(3).uniform(0, 255, (2, 1, 112, 112)).astype(np.float32)
    with mx.autograd.predict_mode():
        ref = net(mx.nd.array(x))[0].asnumpy()
    np.testing.assert_allclose(Predictor(os.path.join(out, "model")).raw(x)[0], ref, atol=1e-4)  # the export
    with pytest.raises(SystemExit, match="course_stage1 has no gluoncv backbone"):
        _fit(tmp_path, "no", course21_archive, "--max_batches", "1", "--pretrained", str(store))


def test_predictor_on_several_devices_splits_the_batch_and_gives_the_same_answer(tmp_path, course21_archive):
    from deploy.predictor import Predictor
    from recordio import devices
    out, _ = _fit(tmp_path, "run", course21_archive, "--model", "course_stage3", "--max_batches", "1")
    x = np.random.default_rng(4).uniform(0, 255, (5, 1, 112, 112)).astype(np.float32)
    one = Predictor(os.path.join(out, "model")).raw(x)
    two = Predictor(os.path.join(out, "model"), ctx=devices.contexts("cpu:0,cpu:1")).raw(x)
    for a, b in zip(one, two):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_total_batch_splits_one_batch_over_the_devices_and_iters_counts_updates(tmp_path, course21_archive):
    """--total_batch 8 on two contexts is the step --batch_size 8 takes on one; --iters 3 with 2 updates per
    epoch trains 2 epochs, the second cut to 1 update; --lr_step_unit iter drops the rate after update 2."""
    common = ["--max_batches", "2", "--optimizer", "sgd", "--lr", "0.05", "--momentum", "0", "--wd", "0",
              "--lr_mode", "step", "--lr_steps", "2", "--lr_step_unit", "iter", "--no_export", "--iters", "3"]
    a, _ = _fit(tmp_path, "total", course21_archive, "--gpu_ids", "cpu:0,cpu:1", "--total_batch", "8", *common)
    b, _ = _fit(tmp_path, "one", course21_archive, "--gpu_ids", "", "--batch_size", "8", *common)
    pa, pb = _params(os.path.join(a, "last.params")), _params(os.path.join(b, "last.params"))
    for k in pa:
        np.testing.assert_allclose(pa[k], pb[k], rtol=1e-4, atol=1e-6)
    rows = [line.split(",") for line in open(os.path.join(a, "metrics.csv")).read().splitlines()]
    head = rows[0]
    epochs = [dict(zip(head, r)) for r in rows[1:]]
    assert [int(r["epoch"]) for r in epochs] == [0, 1]
    # updates 1-2 at 0.05, update 3 (past step 2) at 0.005
    assert [float(r["lr"]) for r in epochs] == [pytest.approx(0.05), pytest.approx(0.005)]
    assert [int(r["updates"]) for r in epochs] == [2, 3]  # the second epoch cut to one update
    from train.loop import batch_per_step
    args = train_landmarks.parse_args(["--train", course21_archive[0], "--out", "unused", "--total_batch", "128"])
    assert batch_per_step(args, 4) == 128 and batch_per_step(args, 2, workers=2) == 64  # a dist worker's share
    with pytest.raises(SystemExit, match="--total_batch 1 does not split over 1 workers of 2 devices"):
        _fit(tmp_path, "tiny", course21_archive, "--gpu_ids", "cpu:0,cpu:1", "--total_batch", "1", *common)


def test_torch_init_draws_weights_within_one_over_the_square_root_of_fan_in(tmp_path, course21_archive):
    out, _ = _fit(tmp_path, "torch", course21_archive, "--max_batches", "1", "--no_export", "--init", "torch",
                  "--optimizer", "sgd", "--lr", "0")
    params = _params(os.path.join(out, "last.params"))
    dense = [v for k, v in params.items() if k.endswith("weight") and v.ndim == 2]
    conv = [v for k, v in params.items() if k.endswith("weight") and v.ndim == 4]
    for w in dense + conv:
        fan_in = int(np.prod(w.shape[1:]))
        assert np.abs(w).max() <= 1 / np.sqrt(fan_in) + 1e-6 and np.abs(w).max() > 0.8 / np.sqrt(fan_in)
    assert len(dense) == 3 and len(conv) == 7


def test_a_run_that_diverges_stops_exports_its_best_epoch_and_says_so(tmp_path, course21_archive):
    """course_stage1 at SGD rate 1 on squared pixel errors: the loss is not finite within a few epochs."""
    out = str(tmp_path / "nan")
    with pytest.raises(SystemExit, match=r"training diverged in epoch (\d+).*best epoch before it exported"):
        _fit(tmp_path, "nan", course21_archive, "--epochs", "30", "--optimizer", "sgd", "--lr", "1", "--loss", "l2",
             "--lr_mode", "constant", "--val", course21_archive[1])
    rows = open(os.path.join(out, "metrics.csv")).read().splitlines()
    assert len(rows) - 1 < 30  # stopped: the diverged epoch is not written, nor any after it
    assert os.path.exists(os.path.join(out, "model-0000.params"))
    best = json.load(open(os.path.join(out, "best_metrics.json")))
    assert np.isfinite(best["nme"])
