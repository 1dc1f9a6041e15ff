"""Print score summaries (deploy/score.py's summary.json) as one Markdown table, the way recipes report.

    python tools/results.py OUT/score/*/summary.json
    python tools/results.py --mean OUT/score/p*/summary.json     # also the mean row (leave-one-out folds)

Landmark rows: faces, mean and median NME, FR@0.1, AUC@0.1 and faces left unanswered; gaze rows: samples,
mean and median angular error and what the dataset adds (head and eye errors, front subsets, interval).
"""
import argparse
import json
import os
import sys

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

LANDMARK_COLUMNS = (("count", "faces", "%d"), ("nme", "NME", "%.4f"), ("nme_median", "median", "%.4f"),
                    ("fr", "FR@0.1", "%.2f%%"), ("auc", "AUC@0.1", "%.3f"), ("box_nme", "box NME", "%.4f"),
                    ("unanswered", "unanswered", "%d"))
GAZE_COLUMNS = (("count", "samples", "%d"), ("angular_error", "error (deg)", "%.2f"),
                ("angular_error_median", "median", "%.2f"), ("head_error", "head", "%.2f"),
                ("eye_error", "eye", "%.2f"), ("angular_error_front180", "front 180", "%.2f"),
                ("angular_error_front_facing", "front-facing", "%.2f"), ("interval_coverage", "in interval", "%.1f%%"))
PERCENT = ("fr", "interval_coverage")


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("summaries", nargs="+", help="summary.json files")
    ap.add_argument("--mean", action="store_true", help="add the mean of every column over the rows")
    ap.add_argument("--breakdown", action="store_true",
                    help="landmarks: also a table per pose (|yaw|), roll and face size bin of each summary")
    return ap.parse_args(argv)


def _cell(summary, key, fmt):
    value = summary.get(key)
    if value is None:
        return "-"
    return fmt % (100 * value if key in PERCENT else value)


def table(summaries, names, mean=False):
    """Markdown lines for ``summaries`` (dicts) named ``names``."""
    gaze = any("angular_error" in s for s in summaries)
    columns = [c for c in (GAZE_COLUMNS if gaze else LANDMARK_COLUMNS) if any(c[0] in s for s in summaries)]
    rows = [[name] + [_cell(s, k, f) for k, _, f in columns] for s, name in zip(summaries, names)]
    if mean and summaries:
        avg = {k: sum(s[k] for s in summaries if k in s) / sum(1 for s in summaries if k in s)
               for k, _, _ in columns}
        rows.append(["mean of %d" % len(summaries)] + [_cell(avg, k, "%.4g" if f == "%d" else f) for k, _, f in columns])
    head = ["archive"] + [title for _, title, _ in columns]
    return ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)] + ["| " + " | ".join(r) + " |" for r in rows]


def main(argv=None):
    args = parse_args(argv)
    summaries, names = [], []
    for path in args.summaries:
        try:
            with open(path) as f:
                summaries.append(json.load(f))
        except (OSError, json.JSONDecodeError) as e:
            sys.exit("error: %s: %s" % (path, e))
        names.append(os.path.basename(os.path.dirname(os.path.abspath(path))))
    lines = table(summaries, names, args.mean)
    if args.breakdown:
        for summary, name in zip(summaries, names):
            rows = [(group, bin_name, rep) for group, bins in summary.get("breakdown", {}).items()
                    for bin_name, rep in bins.items()]
            if rows:
                lines += ["", "%s, by pose, roll and face size:" % name]
                lines += table([r for _, _, r in rows], ["%s %s" % (g, b) for g, b, _ in rows])
    print("\n".join(lines))
    return lines


if __name__ == "__main__":
    from recordio.cli import run
    run(main)
