"""Train, test, finetune or predict with a landmark network.

Examples
--------
python train/train_landmarks.py --train out/c21/train --val out/c21/test --model course_stage3 --out runs/c21
python train/train_landmarks.py --phase finetune --finetune runs/c21/best.params --freeze 'trunk' ... --out runs/ft
python train/train_landmarks.py --phase test --val out/c21/test --out runs/c21
python train/train_landmarks.py --phase predict --image photo.jpg --box 10,20,110,140 --out runs/c21
"""
import argparse
import json
import os
import sys

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from recordio.devices import use_all_cores  # noqa: E402

use_all_cores()  # before MXNet loads: it reads OMP_NUM_THREADS once

from train import cli, landmark_task, loop  # noqa: E402
from train.export import export_run  # noqa: E402
from train.tasks import take_run_args  # noqa: E402


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--phase", choices=("train", "test", "finetune", "predict"), default="train")
    ap.add_argument("--params", help="test/predict: parameters to use (default: OUT/best.params)")
    ap.add_argument("--image", help="predict: a photo")
    ap.add_argument("--box", help="predict: face box x1,y1,x2,y2 in photo px (default: the whole photo)")
    ap.add_argument("--draw", help="predict: where to write the photo with the points (default OUT/predict.jpg)")
    ap.add_argument("--face_threshold", type=float, default=0.5,
                    help="predict, stage 3: below this face_score the crop is non-face and gets no points")
    ap.add_argument("--keep_nonfaces", action="store_true", help="predict, stage 3: give points for non-faces too")
    cli.add_common_args(ap)
    landmark_task.add_args(ap)
    ap.set_defaults(task_name="landmarks")
    args = ap.parse_args(argv)
    if args.phase == "finetune" and not args.finetune:
        ap.error("--phase finetune needs --finetune PARAMS")
    if args.phase in ("train", "finetune") and not args.train:
        ap.error("--phase %s needs --train" % args.phase)
    return args


def _load(args):
    """The task and trained network of the run in ``--out`` (its network as it was trained)."""
    take_run_args(args, args.out, landmark_task.LandmarkTask.network_args + ("train",))
    task = landmark_task.LandmarkTask(args)
    return task, loop.load_trained(task, args)


def test(args):
    task, net = _load(args)
    result = loop.evaluate_val(task, net, args, batch_size=64)
    print(json.dumps(result, indent=1))
    return result


def predict(args):
    """Points of one face of one photo in photo pixels; a stage-3 model's face_score, and no points when it
    judges the crop non-face (below --face_threshold) unless --keep_nonfaces."""
    import cv2
    import mxnet as mx
    import numpy as np
    from recordio import geometry
    task, net = _load(args)
    img = cv2.imread(args.image)
    if img is None:
        raise SystemExit("error: cannot read image %s" % args.image)
    h, w = img.shape[:2]
    box = [float(v) for v in args.box.split(",")] if args.box else [0, 0, w, h]
    crop_box = geometry.crop_box_from_recipe(box, (w, h), task.archive_meta.get("crop"))
    to_crop = geometry.box_to_crop_affine(crop_box, task.size, task.size)
    crop = geometry.warp(img, to_crop, task.size, task.size)
    if task.channels == 1:
        crop = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)[:, :, None]
    ctx = net.collect_params().list_ctx()[0]
    out = net(mx.nd.array(crop.transpose(2, 0, 1)[None].astype(np.float32), ctx=ctx))
    result = {"image": args.image, "box": box}
    if task.face_head:
        result["face_score"] = round(float(mx.nd.softmax(out[1])[0, 1].asscalar()), 4)
    photo = geometry.apply_affine(geometry.invert_affine(to_crop), out[0].asnumpy().reshape(-1, 2) * task.size)
    if task.face_head and result["face_score"] < args.face_threshold and not args.keep_nonfaces:
        print(json.dumps(result))
        print("no points: face_score %.3f is below --face_threshold %g (the crop is judged non-face; "
              "--keep_nonfaces keeps them)" % (result["face_score"], args.face_threshold))
        return result
    result["points"] = np.round(photo, 2).tolist()
    geometry.draw_points(img, photo, (0, 255, 0))
    path = args.draw or os.path.join(args.out, "predict.jpg")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    cv2.imwrite(path, img)
    print(json.dumps(result))
    print("points drawn on %s -> %s" % (args.image, path))
    return result


def main(argv=None):
    args = parse_args(argv)
    if args.phase in ("train", "finetune"):
        task = landmark_task.LandmarkTask(args)
        fitted = loop.fit_and_export(task, args, lambda *a: export_run(*a, onnx=getattr(args, "onnx", False)))
        return fitted.metrics
    if args.phase == "test":
        return test(args)
    return predict(args)


if __name__ == "__main__":
    from recordio.cli import run
    run(main)
