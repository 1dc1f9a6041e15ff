"""Train a face detector (gluoncv's SSD, from scratch) on detection archives, then export it.

Examples
--------
python tools/make_rec.py detection data/I --out out/faces --test_ratio 0.2 --val_ratio 0.1
python train/train_detector.py --train out/faces/train --val out/faces/val --out runs/faces --gpu_ids 0,1
python deploy/analyze.py photo.jpg --detector mxnet --mxnet_detector runs/faces/model --out out/analyze
"""
import os
import sys

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from recordio.devices import use_all_cores  # noqa: E402

use_all_cores()  # before MXNet loads: it reads OMP_NUM_THREADS once

import argparse  # noqa: E402

from train import cli, detect_task, loop  # noqa: E402
from train.export import export_run  # noqa: E402


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_common_args(ap)
    detect_task.add_args(ap)
    ap.set_defaults(task_name="detection")
    args = ap.parse_args(argv)
    if not args.train:
        ap.error("--train is needed")
    return args


def main(argv=None):
    args = parse_args(argv)
    task = detect_task.DetectionTask(args)
    fitted = loop.fit_and_export(task, args, lambda *a: export_run(*a, onnx=getattr(args, "onnx", False)))
    return fitted.metrics


if __name__ == "__main__":
    from recordio.cli import run
    run(main)
