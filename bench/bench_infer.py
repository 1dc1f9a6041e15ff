"""Inference backends side by side: milliseconds per call of every backend at batch 1 and 32, and what int8
and ONNX Runtime change in accuracy.

    python bench/bench_infer.py [--models course_stage3_cnn,pfld_0.25,...] [--repeats 30]
                                [--score NAME=EXPORT:TEST_ARCHIVE:CALIB_ARCHIVE ...]

Speed: freshly initialised networks (speed does not depend on the weights), exported with their ONNX file,
each backend of deploy/predictor.py timed on the same batch in one run (int8 calibrated on random pixels:
its speed does not depend on the ranges either).  ``best MXNet / ORT`` is the faster of mxnet, mkldnn and
int8 divided by ONNX Runtime's time (at most 1.0 means MXNet keeps up).

Accuracy (``--score``, default: the shipped course21 model on the real course21 test split packed from
../shared/data when it is there): deploy/score.py with each backend, int8 calibrated on the calibration
archive; NME (landmarks, every face) or mean angular error (gaze).
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

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIPPED = os.path.join(HERE, "deploy", "models", "course21", "model")
BACKENDS = ("mxnet", "mkldnn", "int8", "onnxruntime")
DEFAULT_MODELS = "course_stage1,course_stage3_cnn,course_stage3_resnet18,course_stage3_mobilenetv2,base_regressor," \
                 "pfld_0.25,pfld_1.0,mobile_facegaze,gaze360_static"
SIZES = {"gaze360_static": {"input_size": 112}, "gaze360_lstm": {"input_size": 112},
         "mc4_gazenet_small": {"head_size": 112, "eye_size": 56}}


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=DEFAULT_MODELS)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--score", action="append", default=[], help="NAME=EXPORT:TEST_ARCHIVE:CALIB_ARCHIVE")
    ap.add_argument("--no_score", action="store_true", help="speed only")
    return ap.parse_args(argv)


def _time(fn, x, repeats):
    fn(x)  # warm-up
    t = time.perf_counter()
    for _ in range(repeats):
        fn(x)
    return 1000 * (time.perf_counter() - t) / repeats


def speed(names, repeats, work):
    import mxnet as mx
    from deploy.predictor import Predictor
    from symbols import get_model, model_defaults
    from train.export import export_network, export_onnx
    print("\nms per call on the CPU (%d cores); best MXNet / ORT: the fastest MXNet backend's time over ONNX Runtime's"
          % os.cpu_count())
    print("| model | batch | " + " | ".join(BACKENDS) + " | best MXNet / ORT |")
    print("| --- | --- | " + " | ".join("---" for _ in BACKENDS) + " | --- |")
    rows = []
    for name in names:
        net = get_model(name, **SIZES.get(name, {}))
        net.initialize(mx.init.Xavier())
        d = model_defaults(name)
        shape = tuple(getattr(net, "input_shape", None) or (d["input_channels"], d["input_size"], d["input_size"]))
        net(mx.nd.zeros((1,) + shape))
        meta = {"task": "bench", "input": {"name": "data", "shape": [1] + list(shape)},
                "outputs": [{"name": "out%d" % k} for k in range(len(net.deploy["keep"]))]}
        prefix = export_network(net, meta, os.path.join(work, name))
        export_onnx(prefix, check=False)
        calib = np.random.default_rng(1).uniform(0, 255, (32,) + shape).astype(np.float32)
        for batch in (1, 32):
            x = np.random.default_rng(0).uniform(0, 255, (batch,) + shape).astype(np.float32)
            ms = {b: _time(Predictor(prefix, backend=b, calib=calib).raw, x, repeats) for b in BACKENDS}
            best = min(ms[b] for b in ("mxnet", "mkldnn", "int8"))
            rows.append({"model": name, "batch": batch, "ms": ms, "best_mxnet_over_ort": best / ms["onnxruntime"]})
            print("| %s | %d | %s | %.2f |" % (name, batch, " | ".join("%.2f" % ms[b] for b in BACKENDS),
                                                best / ms["onnxruntime"]), flush=True)
    return rows


def _default_score(work):
    """The shipped model on the real course21 test split (packed here), calibrated on its training split."""
    from bench.common import SHARED_COURSE21
    if not os.path.isfile(os.path.join(SHARED_COURSE21, "label.txt")) or not os.path.exists(SHIPPED + ".onnx"):
        return []
    from tools import make_rec
    out = os.path.join(work, "course21_rec")
    make_rec.main(["course21", SHARED_COURSE21, "--out", out, "-j", "2"])
    return ["course21 (shipped)=%s:%s:%s" % (SHIPPED, os.path.join(out, "test"), os.path.join(out, "train"))]


def accuracy(specs, work):
    import json

    from deploy import score
    print("\naccuracy by backend (int8 calibrated on the calibration archive); change against mxnet")
    print("| model | measure | " + " | ".join(BACKENDS) + " | int8 change | onnxruntime change |")
    print("| --- | --- | " + " | ".join("---" for _ in BACKENDS) + " | --- | --- |")
    rows = []
    for spec in specs:
        name, rest = spec.split("=", 1)
        export, test, calib = rest.rsplit(":", 2)
        res = {}
        for b in BACKENDS:
            out = os.path.join(work, "score_%s_%s" % (name.split()[0], b))
            s = score.main(["--model", export, "--archive", test, "--out", out, "--backend", b, "--calib", calib,
                            "--keep_nonfaces"])
            res[b] = s.get("nme", s.get("angular_error"))
            measure = "NME" if "nme" in s else "angle (deg)"
        change = {b: (res[b] - res["mxnet"]) / res["mxnet"] if measure == "NME" else res[b] - res["mxnet"]
                  for b in ("int8", "onnxruntime")}
        fmt = (lambda v: "%+.2f%%" % (100 * v)) if measure == "NME" else (lambda v: "%+.3f deg" % v)
        rows.append({"model": name, "measure": measure, "by_backend": res, "change": change})
        print("| %s | %s | %s | %s | %s |" % (name, measure, " | ".join("%.4f" % res[b] for b in BACKENDS),
                                               fmt(change["int8"]), fmt(change["onnxruntime"])), flush=True)
    with open(os.path.join(work, "accuracy.json"), "w") as f:
        json.dump(rows, f, indent=1)
    return rows


def main(argv=None):
    args = parse_args(argv)
    work = tempfile.mkdtemp(prefix="bench_infer_")
    try:
        rows = speed([n for n in args.models.split(",") if n], args.repeats, work)
        specs = [] if args.no_score else (args.score or _default_score(work))
        acc = accuracy(specs, work) if specs else []
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows, acc


if __name__ == "__main__":
    from recordio.cli import run
    run(main)
