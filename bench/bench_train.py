"""Training speed of each landmark model on this machine, and the share of step time spent waiting for data.

For each model: steps with the training loader (``train.loop.train_loader``: RecordDataset + the train
transform, whole batches made by DataLoader worker processes), then the same number of steps on one cached
batch, in the same process.  Wait share = 1 - cached / real.

    python bench/bench_train.py [--steps 20] [--batch_size 32] [--models course_stage1,pfld_0.25]
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

MODELS = ("course_stage1", "course_stage3", "course_stage2_mobilenetv2", "course_stage2_resnet18",
          "base_regressor", "pfld_0.25", "pfld_1.0")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch_size", type=int, default=32)
    ap.add_argument("--models", default=",".join(MODELS))
    args = ap.parse_args(argv)
    import mxnet as mx
    from mxnet import autograd, gluon
    from recordio.dataset import RecordDataset
    from recordio.transforms import LandmarkTransform
    from symbols import get_model
    from tools import make_rec
    from tools.synth.formats import write_course21, write_wflw
    from train.losses import LandmarkLoss
    from train.loop import train_loader
    work = tempfile.mkdtemp(prefix="bench_train_")
    try:
        write_course21(os.path.join(work, "c21"), 400, seed=0, jobs=os.cpu_count())
        make_rec.main(["course21", os.path.join(work, "c21", "I"), "--out", os.path.join(work, "rc21"),
                       "--test_ratio", "0"])
        write_wflw(os.path.join(work, "w"), 400, seed=0, jobs=os.cpu_count(), test_ratio=0)
        make_rec.main(["wflw", os.path.join(work, "w", "WFLW_annotations",
                                                              "list_98pt_rect_attr_train_test",
                                                              "list_98pt_rect_attr_train.txt"),
                       "--images", os.path.join(work, "w", "WFLW_images"), "--out", os.path.join(work, "rw")])
        rows = []
        for name in args.models.split(","):
            schema, prefix = ("course21", "rc21") if name.startswith("course") else ("wflw98", "rw")
            net = get_model(name, num_points=21 if schema == "course21" else 98)
            net.initialize(mx.init.Xavier())
            net.hybridize(static_alloc=True)
            tf = LandmarkTransform(schema, net.input_size, net.input_channels, train=True)
            ds = RecordDataset(os.path.join(work, prefix, "train"), tf, seed=(0, 0))
            loader = train_loader(ds, args.batch_size, os.cpu_count(), (0, 0), max(1, len(ds) // args.batch_size))
            trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 1e-4})
            loss_fn = LandmarkLoss("huber", net.input_size)

            def step(data, label):
                data, label = data.as_in_context(mx.cpu()), label.as_in_context(mx.cpu())  # off shared memory
                with autograd.record():
                    out = net(data.astype("float32"))
                    loss = loss_fn(out[0], label[:, 1:1 + 2 * net.num_points] / net.input_size)
                loss.backward()
                trainer.step(data.shape[0])
                loss.wait_to_read()

            it = iter(loader)
            first = next(it)
            step(*first)  # warm-up: shapes, memory
            t = time.perf_counter()
            for _ in range(args.steps):
                try:
                    batch = next(it)
                except StopIteration:
                    it = iter(loader)
                    batch = next(it)
                step(*batch)
            real = time.perf_counter() - t
            t = time.perf_counter()
            for _ in range(args.steps):
                step(*first)
            cached = time.perf_counter() - t
            rows.append((name, args.steps * args.batch_size / real, args.steps * args.batch_size / cached,
                         max(0.0, 1 - cached / real)))
        print("training on CPU, %d cores, batch %d, %d steps each" % (os.cpu_count(), args.batch_size, args.steps))
        print("  %-28s %12s %14s %10s" % ("model", "samples/s", "cached batch", "data wait"))
        for name, real, cached, wait in rows:
            print("  %-28s %12.1f %14.1f %9.0f%%" % (name, real, cached, 100 * wait))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    from recordio.cli import run
    run(main)
