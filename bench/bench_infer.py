"""Inference speed of exported models: plain against the MKLDNN subgraph backend, side by side.

Exports freshly initialised networks (speed does not depend on the weights) and times batch 1 and
batch 32 through deploy/predictor.py.

    python bench/bench_infer.py [--models course_stage3_cnn,pfld_0.25,mobile_facegaze] [--repeats 50]
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


def _time(fn, x, repeats):
    fn(x)  # warm-up
    t = time.perf_counter()
    for _ in range(repeats):
        fn(x)
    return (time.perf_counter() - t) / repeats


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="course_stage1,course_stage3_cnn,pfld_0.25,pfld_1.0,mobile_facegaze")
    ap.add_argument("--repeats", type=int, default=50)
    args = ap.parse_args(argv)
    import mxnet as mx
    import numpy as np
    from deploy.predictor import Predictor
    from symbols import get_model
    from train.export import export_network
    work = tempfile.mkdtemp(prefix="bench_infer_")
    try:
        print("exported models on the CPU (%d cores), ms per call" % os.cpu_count())
        print("  %-22s %10s %10s %7s %10s %10s %7s" % ("model", "b1 plain", "b1 mkldnn", "ratio", "b32 plain",
                                                         "b32 mkldnn", "ratio"))
        for name in args.models.split(","):
            net = get_model(name)
            net.initialize(mx.init.Xavier())
            shape = getattr(net, "input_shape", None) or (net.input_channels, net.input_size, net.input_size)
            meta = {"task": "bench", "input": {"name": "data", "shape": [1] + list(shape)},
                    "outputs": [{"name": "out%d" % k} for k in range(len(net.deploy["keep"]))]}
            prefix = export_network(net, meta, os.path.join(work, name))
            row = []
            for batch in (1, 32):
                x = np.random.default_rng(0).uniform(0, 255, (batch,) + tuple(shape)).astype(np.float32)
                plain = _time(Predictor(prefix).raw, x, args.repeats)
                fused = _time(Predictor(prefix, mkldnn=True).raw, x, args.repeats)
                row += [1000 * plain, 1000 * fused, plain / fused]
            print("  %-22s %10.2f %10.2f %6.2fx %10.2f %10.2f %6.2fx" % (name, *row))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
