"""The real-data recipes, each run as it is (QUICK=1: every step, tiny) on a synthetic tree in its release's
exact layout, and the results table they print."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from recordio import labelfiles

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _recipe(name, data, out, env=None):
    env = dict(env or os.environ, QUICK="1", PYTHON=sys.executable, GPU_IDS="")
    done = subprocess.run(["bash", os.path.join(ROOT, "train", "recipes", name), str(data), str(out)], env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def _row(printed, name):
    """{column: cell} of the Markdown results row called ``name`` that a recipe printed (the last one)."""
    lines = printed.splitlines()
    k = max(i for i, line in enumerate(lines) if line.startswith("| %s |" % name))
    head = next(lines[i] for i in range(k - 1, -1, -1)
                if lines[i].startswith("| ") and lines[i + 1].startswith("| ---"))
    cells = lambda line: [c.strip() for c in line.strip().strip("|").split("|")]  # noqa: E731
    return dict(zip(cells(head), cells(lines[k])))


def test_wflw_recipe_scores_the_test_set_and_its_six_subsets(tmp_path):
    from tools.synth.formats import write_wflw
    write_wflw(str(tmp_path / "WFLW"), 60, seed=21, test_ratio=0.4)
    printed = _recipe("wflw.sh", tmp_path / "WFLW", tmp_path / "out")
    names = ["test"] + ["test_" + s for s in ("largepose", "expression", "illumination", "makeup", "occlusion",
                                               "blur")]
    for name in names:
        summary = json.load(open(tmp_path / "out" / "score" / name / "summary.json"))
        row = _row(printed, name)  # the printed figures are the scores' own
        assert int(row["faces"]) == summary["count"]
        if not summary["count"]:  # a tiny synthetic subset may hold no face: printed as such
            assert row["NME"] == "-"
            continue
        assert float(row["NME"]) == pytest.approx(summary["nme"], abs=5e-5)
        assert float(row["FR@0.1"].rstrip("%")) == pytest.approx(100 * summary["fr"], abs=5e-3)
    assert int(_row(printed, "test")["faces"]) > 0
    meta = json.load(open(tmp_path / "out" / "rec" / "val.meta.json"))
    assert meta["split"]["by"] == "photo" and meta["counts"]["written"] > 0


def test_wflw_base_recipe_trains_the_articles_base_network_with_its_settings(tmp_path):
    from tools.synth.formats import write_wflw
    write_wflw(str(tmp_path / "WFLW"), 30, seed=21, test_ratio=0.4)
    printed = _recipe("wflw_base.sh", tmp_path / "WFLW", tmp_path / "out")
    args = json.load(open(tmp_path / "out" / "run" / "args.json"))
    assert (args["model"], args["loss"], args["loss_reduction"], args["optimizer"], args["lr"], args["lr_mode"],
            args["wd"]) == ("base_regressor", "l2", "sum", "adam", 1e-4, "constant", 0)
    assert args["total_batch"] == 8 and (args["rotate"], args["flip_prob"], args["zoom"]) == (0, 0, 0)  # QUICK
    assert int(_row(printed, "test")["faces"]) > 0


def test_course21_best_recipe_ensembles_its_members_and_prints_course21s_tables(tmp_path):
    from tools.synth.formats import write_course21
    write_course21(str(tmp_path / "C"), 50, seed=5)
    env = dict(os.environ, MEMBERS="2", SYNTH_QUICK="12")
    printed = _recipe("course21_best.sh", tmp_path / "C" / "I", tmp_path / "out", env)
    out = tmp_path / "out"
    meta = json.load(open(out / "model-meta.json"))
    assert [m["export"] for m in meta["ensemble"]] == [str(out / ("member%d" % k) / "run" / "model") for k in (0, 1)]
    assert os.path.exists(out / "model.onnx") and max(meta["onnx"]["parity"].values()) < 1e-4
    # the members are different runs: their own rendered faces and training draws
    labels = [open(out / ("member%d" % k) / "synth" / "I" / "label.txt").read() for k in (0, 1)]
    assert labels[0] != labels[1]
    for name in ("score", "score_all", "score_noflip"):
        assert json.load(open(out / name / "summary.json"))["faces"] > 0
    # the tables course21.sh prints (each member printed its own), then the ensemble's with its members'
    assert printed.count("by pose, roll and face size") == 2 + 2
    assert "| pose frontal |" in printed and "course21_best recipe done" in printed
    prov = json.load(open(out / "provenance.json"))
    assert prov["recipe"].startswith("train/recipes/course21_best.sh") and "MEMBERS=2" in prov["recipe"]
    assert len(prov["members"]) == 2 and prov["commit"]
    score_all = json.load(open(out / "score_all" / "summary.json"))
    assert prov["scores_flip_averaged_every_face"]["nme"] == score_all["nme"]
    assert prov["breakdown_flip_averaged_every_face"] == score_all["breakdown"]


def test_course21_stages_recipe_trains_the_courses_stage_1_and_2_with_its_loss_and_optimiser(tmp_path):
    from tools.synth.formats import write_course21
    write_course21(str(tmp_path / "C"), 40, seed=5)
    printed = _recipe("course21_stages.sh", tmp_path / "C" / "I", tmp_path / "out")
    for stage, model, rotate in (("stage1", "course_stage1", 0), ("stage2", "course_stage2_cnn", 20.0)):
        args = json.load(open(tmp_path / "out" / stage / "args.json"))
        got = (args["model"], args["loss"], args["loss_reduction"], args["optimizer"], args["lr"], args["momentum"],
               args["wd"], args["lr_mode"])
        assert got == (model, "l2", "mean", "sgd", 0.001, 0.5, 0, "constant")
        assert args["rotate"] == rotate
        best = json.load(open(tmp_path / "out" / stage / "best_metrics.json"))
        row = _row(printed, stage)  # the printed figures against the course's targets are the run's own
        assert float(row["training loss (target < 3)"]) == pytest.approx(best["train_loss"], abs=5e-4)
        assert float(row["validation loss (target < 9)"]) == pytest.approx(best["mse_px"], abs=5e-4)
        assert json.load(open(tmp_path / "out" / "score" / stage / "summary.json"))["count"] > 0


def test_mc4_recipe_writes_a_submission_named_as_the_test_set(tmp_path):
    from tools.synth.formats import write_mc4
    data = tmp_path / "MC4"
    write_mc4(str(data), 30, seed=22, test_ratio=0.3)
    for fname in labelfiles.MC4_LABEL_FILES:  # the release's test set has images only
        os.remove(data / "test" / fname)
    _recipe("mc4.sh", data, tmp_path / "out")
    parsed, errors = labelfiles.read_mc4_labels(str(tmp_path / "out" / "submission.txt"))
    names = sorted((os.path.splitext(f)[0] for f in os.listdir(data / "test" / "head")), key=int)
    assert not errors and list(parsed) == names
    assert json.load(open(tmp_path / "out" / "rec" / "val.meta.json"))["split"]["val_ratio"] == 0.1
    args = json.load(open(tmp_path / "out" / "run" / "args.json"))  # the document's settings (QUICK: 2 updates)
    assert (args["iters"], args["total_batch"], args["lr_steps"], args["lr_step_unit"]) == (2, 8, "10000,20000,25000",
                                                                                             "iter")
    assert (args["optimizer"], args["lr"], args["momentum"], args["wd"], args["loss"], args["loss_reduction"]) == \
        ("sgd", 0.1, 0.9, 5e-4, "smooth_l1", "mean")
    assert (args["zoom"], args["shift"], args["flip_prob"], args["color"], args["val"]) == (0, 0, 0, 0, None)


def test_mpiifacegaze_recipe_runs_a_fold_per_person_and_reports_their_mean(tmp_path):
    from tools.synth.formats import write_mpiifacegaze
    write_mpiifacegaze(str(tmp_path / "MPII"), 16, seed=23, persons=3)
    printed = _recipe("mpiifacegaze.sh", tmp_path / "MPII", tmp_path / "out")
    errors = []
    for p in ("p00", "p01", "p02"):
        summary = json.load(open(tmp_path / "out" / "score" / p / "summary.json"))
        assert summary["count"] == 16
        errors.append(summary["angular_error"])
        assert float(_row(printed, p)["error (deg)"]) == pytest.approx(summary["angular_error"], abs=5e-3)
        args = json.load(open(tmp_path / "out" / "runs" / p / "args.json"))
        assert args["optimizer"] == "nag" and args["val"] is None  # no epoch picking on the held-out person
    assert float(_row(printed, "mean of 3")["error (deg)"]) == pytest.approx(np.mean(errors), abs=5e-3)


def test_gaze360_recipe_trains_with_per_frame_crops_and_scores_the_test_split(tmp_path):
    from tools.synth.formats import write_gaze360
    write_gaze360(str(tmp_path / "G360"), 10, seed=24, frames=9)
    printed = _recipe("gaze360.sh", tmp_path / "G360", tmp_path / "out")
    summary = json.load(open(tmp_path / "out" / "score" / "test" / "summary.json"))
    assert "interval_coverage" in summary and summary["count"] > 0
    assert json.load(open(tmp_path / "out" / "run" / "args.json"))["crop_scale"] == [0.8, 1.0]
    row = _row(printed, "test")
    assert float(row["error (deg)"]) == pytest.approx(summary["angular_error"], abs=5e-3)
    assert float(row["in interval"].rstrip("%")) == pytest.approx(100 * summary["interval_coverage"], abs=0.05)
    assert "front-facing" in row


def test_results_table_and_mean_row(tmp_path):
    from tools import results
    for name, nme in (("a", 0.04), ("b", 0.06)):
        os.makedirs(tmp_path / name)
        json.dump({"count": 10, "nme": nme, "nme_median": nme, "fr": 0.1, "auc": 0.5, "unanswered": 0},
                  open(tmp_path / name / "summary.json", "w"))
    lines = results.main([str(tmp_path / "a" / "summary.json"), str(tmp_path / "b" / "summary.json"), "--mean"])
    assert lines[2].startswith("| a | 10 | 0.0400 |") and "10.00%" in lines[2]
    assert lines[-1].startswith("| mean of 2 | 10 | 0.0500 |")
