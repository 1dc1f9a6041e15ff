"""Write a recipe's ``provenance.json`` beside its export: what was trained, how, on what, and its test scores.

A model that ships (``deploy/models/...``) carries this file, so anyone can tell which recipe and commit made it
and what it scores on the photos nothing in training or selection saw:

    python tools/provenance.py OUT --recipe "train/recipes/course21_best.sh DATA OUT" --data DATA

It reads ``OUT/model-meta.json`` and the score summaries ``OUT/score_all`` (flip-averaged, every face),
``OUT/score`` (flip-averaged, stage 3's answers) and ``OUT/score_noflip`` (one pass), whichever exist (a gaze
model: ``OUT/score_gaze/test.json``, ``bench/bench_gaze_real.py --json``'s table), and records the commit the
repository is at (with ``+changes`` when its tracked files differ from it).
"""
import argparse
import datetime
import json
import os
import subprocess
import sys

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCORES = {"scores_flip_averaged_every_face": "score_all", "scores_flip_averaged_stage3": "score",
          "scores_one_pass_every_face": "score_noflip"}
KEPT = ("count", "nme", "nme_median", "fr", "auc", "box_nme", "unanswered")


def commit():
    """The repository's commit, ``+changes`` appended when tracked files differ from it; None outside git."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return head.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")


GAZE_SCORES = os.path.join("score_gaze", "test.json")


def provenance(out, recipe, data, licence=None):
    with open(os.path.join(out, "model-meta.json")) as f:
        meta = json.load(f)
    record = {"model": meta.get("model"), "schema": meta.get("schema"), "input": meta.get("input"),
              "recipe": recipe, "commit": commit(), "data": data,
              "written": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    if licence:
        record["licence"] = licence
    if meta.get("ensemble"):
        record["members"] = [{"model": m["model"], "validation": m.get("metrics")} for m in meta["ensemble"]]
    for key, folder in SCORES.items():
        path = os.path.join(out, folder, "summary.json")
        if os.path.exists(path):
            with open(path) as f:
                summary = json.load(f)
            record[key] = {k: summary[k] for k in KEPT if k in summary}
            if folder == "score_all" and "breakdown" in summary:
                record["breakdown_flip_averaged_every_face"] = summary["breakdown"]
            if "face_classification" in summary:
                record["face_classification"] = summary["face_classification"]
    gaze = os.path.join(out, GAZE_SCORES)
    if os.path.exists(gaze):
        with open(gaze) as f:
            table = json.load(f)
        record["scores_real_faces_" + table["split"]] = {"faces": table["faces"], "data": table["data"],
                                                        "reference": "gaze_reference.jsonl beside the label file",
                                                        "rows": table["rows"]}
        record["validation"] = meta.get("metrics")  # the epoch chosen on the validation photos
    if not any(key in record for key in SCORES) and not os.path.exists(gaze):
        raise SystemExit("error: %s holds no score summary (%s/summary.json or %s): score the model first"
                         % (out, ", ".join(SCORES.values()), GAZE_SCORES))
    return record


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", help="the recipe's output folder (model-meta.json, score*/summary.json)")
    ap.add_argument("--recipe", required=True, help="the command that made it")
    ap.add_argument("--data", required=True, help="what it was trained and tested on")
    ap.add_argument("--licence", help="the terms the weights come under (e.g. the data's)")
    a = ap.parse_args(argv)
    if not os.path.exists(os.path.join(a.out, "model-meta.json")):
        raise SystemExit("error: %s has no model-meta.json (an export)" % a.out)
    record = provenance(a.out, a.recipe, a.data, a.licence)
    path = os.path.join(a.out, "provenance.json")
    with open(path, "w") as f:
        json.dump(record, f, indent=1)
    print("provenance: %s" % path)
    return record


if __name__ == "__main__":
    from recordio.cli import run
    sys.exit(0 if run(main) else 1)
