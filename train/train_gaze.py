"""Train or test a gaze network (MC4 baseline, Mobile FaceGaze, Gaze360) on the shared loop.

Examples
--------
python train/train_gaze.py --model mc4_gazenet --train out/mc4/train --val out/mc4/val --gpu_ids 0,1,2,3 --out runs/mc4
python train/train_gaze.py --model mobile_facegaze --train out/mpii/p01 --val out/mpii/p00 --out runs/mpii
python train/train_gaze.py --model gaze360_lstm --train out/g360/train --val out/g360/validation --out runs/g360
python train/train_gaze.py --phase test --val out/g360/test --out runs/g360
"""
import argparse
import json
import os
import sys

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from recordio.devices import use_all_cores  # noqa: E402

use_all_cores()  # before MXNet loads: it reads OMP_NUM_THREADS once

from train import cli, gaze_task, loop  # noqa: E402
from train.export import export_run  # noqa: E402
from train.tasks import take_run_args  # noqa: E402


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--phase", choices=("train", "test"), default="train")
    ap.add_argument("--params", help="test: parameters (default OUT/best.params)")
    cli.add_common_args(ap)
    gaze_task.add_args(ap)
    ap.set_defaults(task_name="gaze")
    args = ap.parse_args(argv)
    if args.phase == "train" and not args.train:
        ap.error("--phase train needs --train")
    return args


def test(args):
    take_run_args(args, args.out, gaze_task.GazeTask.network_args)
    task = gaze_task.GazeTask(args)
    net = loop.load_trained(task, args)
    result = loop.evaluate_val(task, net, args, batch_size=32)
    print(json.dumps(result, indent=1))
    return result


def main(argv=None):
    args = parse_args(argv)
    if args.phase == "train":
        task = gaze_task.GazeTask(args)
        fitted = loop.fit_and_export(task, args, lambda *a: export_run(*a, onnx=getattr(args, "onnx", False)))
        return fitted.metrics
    return test(args)


if __name__ == "__main__":
    from recordio.cli import run
    run(main)
