"""Video: accuracy and steadiness of the points on rendered videos with exact truth, raw against smoothed, and
frames per second with the detector on every frame against tracking.

    python bench/bench_video.py [--videos N] [--frames F] [--landmarks MODEL] [--detector NAME]

Renders N videos (640 x 480, 25 fps, one or two faces moving slowly with still stretches; ``make_synthetic.py
video``) and runs deploy/analyze.py on them four ways: tracking without smoothing, tracking with the
Kalman filter (analyze.py's default) and with the One-Euro filter, and the detector on every frame without
smoothing (for speed); and, for speed side by side, the Kalman way with the periodic detection merged 8
frames late (``--detect_lag 8``) and on MXNet alone (``--backend mxnet``, the backend before analyze.py chose
by measuring).  Per way: NME of the 21 points against the rendered truth (course convention), the
share of true faces answered, and the normalised mean jitter of LDEQ (Micaelli et al., CVPR 2023): the
frame-to-frame change of each point's error, divided by the inter-ocular distance, root mean square over
points and consecutive frames.  Goal: smoothing at most half the raw jitter, NME no more than 5% worse.
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from recordio.devices import use_all_cores  # noqa: E402

use_all_cores()  # before MXNet loads: it reads OMP_NUM_THREADS once

import numpy as np  # noqa: E402

from bench.common import nearest_face, video_truth  # noqa: E402
from recordio import metrics  # noqa: E402
from recordio.schema import COURSE21  # noqa: E402


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=int, default=4)
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--landmarks", help="landmark export (default: the shipped model)")
    ap.add_argument("--detector", help="detector backend (default: analyze.py's)")
    ap.add_argument("--work", help="keep the rendered videos and outputs here (default: a temporary folder)")
    ap.add_argument("--smooth", default="", help="Kalman settings, e.g. '--accel 1 --noise 0.06' (default: "
                                                 "analyze.py's)")
    ap.add_argument("--one_euro", default="", help="One-Euro settings, e.g. '--beta 4' (default: analyze.py's)")
    ap.add_argument("--analyze_args", default="", help="analyze.py arguments for every way, e.g. '--detect_every 5'")
    return ap.parse_args(argv)


def match(results, truth):
    """{(video, frame, true face): predicted 21 points}: each answered face matched to the true face whose
    points' centre is nearest its own (within a face width)."""
    out = {}
    for r in results:
        key = (os.path.basename(r["source"]), r["frame"])
        frame = truth.get(key, [])
        if not frame:
            continue
        k, dist = nearest_face(r["points"], frame, "points21")
        width = np.ptp(np.array(frame[k]["points21"])[:, 0])
        if dist < max(width, 1.0):
            out[key + (frame[k]["face"],)] = np.array(r["points"])
    return out


def score(matched, truth):
    """NME, answered share and normalised mean jitter of matched predictions."""
    nmes, jitter, total = [], [], 0
    i, j = COURSE21.norm_pair
    for (video, frame), faces in truth.items():
        for t in faces:
            total += 1
            gt = np.array(t["points21"])
            key = (video, frame, t["face"])
            if key not in matched:
                continue
            nmes.append(float(metrics.nme(matched[key][None], gt[None], COURSE21)[0]))
            prev = truth.get((video, frame - 1))
            prev_key = (video, frame - 1, t["face"])
            if prev and prev_key in matched:
                gt_prev = np.array([p for p in prev if p["face"] == t["face"]][0]["points21"])
                change = (matched[key] - gt) - (matched[prev_key] - gt_prev)
                iod = np.linalg.norm(gt[i] - gt[j])
                jitter.append(np.sum(change ** 2, axis=1) / max(iod, 1e-9) ** 2)
    return {"nme": float(np.mean(nmes)) if nmes else float("nan"), "answered": len(nmes) / max(total, 1),
            "jitter": float(np.sqrt(np.mean(np.concatenate(jitter)))) if jitter else float("nan")}


def main(argv=None):
    args = parse_args(argv)
    from deploy import FaceAnalyzer, analyze
    from tools.synth.formats import write_video
    work = args.work or tempfile.mkdtemp(prefix="bench_video_")
    try:
        videos = os.path.join(work, "videos")
        if not os.path.exists(os.path.join(videos, "ground_truth.jsonl")):
            write_video(videos, args.videos, seed=5, frames=args.frames)
        names = sorted(f for f in os.listdir(videos) if f.endswith(".mp4"))
        truth = video_truth(videos)
        common = ["--landmarks", args.landmarks] if args.landmarks else []
        common += (["--detector", args.detector] if args.detector else []) + args.analyze_args.split()
        ways = {"tracking, raw": ["--no_smooth"], "tracking, Kalman": ["--filter", "kalman"] + args.smooth.split(),
                "tracking, One-Euro": ["--filter", "one_euro"] + args.one_euro.split(),
                "detector every frame, raw": ["--no_smooth", "--detect_every", "1"],
                "tracking, Kalman, --detect_lag 8": ["--filter", "kalman", "--detect_lag", "8"] + args.smooth.split(),
                "tracking, Kalman, --backend mxnet": ["--filter", "kalman", "--backend", "mxnet"] + args.smooth.split()}
        rows = {}
        for way, extra in ways.items():  # analyze.py's settings, run through its object
            an = FaceAnalyzer(**analyze.analyzer_options(analyze.parse_args(["-", "--out", "-"] + common + extra)))
            results, frames, start = [], 0, time.time()
            for name in names:
                for frame in an.video(os.path.join(videos, name)):
                    results += [f.as_dict() for f in frame.faces]
                frames += an.video_counts["frames"]
            rows[way] = dict(score(match(results, truth), truth), fps=frames / max(time.time() - start, 1e-9),
                             detector=an.detector_summary())
        print("\n%d rendered videos of %d frames at 640 x 480, detector %s" % (len(names), args.frames,
                                                                            rows["tracking, raw"]["detector"]))
        print("| way | NME | answered | normalised mean jitter | frames / s |")
        print("| --- | --- | --- | --- | --- |")
        for way, r in rows.items():
            print("| %s | %.4f | %.1f%% | %.4f | %.1f |" % (way, r["nme"], 100 * r["answered"], r["jitter"], r["fps"]))
        raw = rows["tracking, raw"]
        for way in ("tracking, Kalman", "tracking, One-Euro"):
            smooth = rows[way]
            print("%s: jitter x%.2f, NME x%.3f, answered %+.1f points" % (
                way.split(", ")[1], smooth["jitter"] / raw["jitter"], smooth["nme"] / raw["nme"],
                100 * (smooth["answered"] - raw["answered"])))
        return rows
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    from recordio.cli import run
    run(main)
