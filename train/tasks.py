"""Which tasks exist (``make_task``), and a run's arguments read back from its ``args.json``: the registry
imports the tasks, the tasks import their base (``train.task``), so nothing imports itself through another.
A run directory's ``args.json`` is read back here, by ``read_run_args``, only.
"""
import argparse
import json
import os

from train.task import RUN_ARGS, RUN_ONLY


def make_task(name, args):
    """The task called ``name`` for ``args``."""
    if name == "landmarks":
        from train.landmark_task import LandmarkTask
        return LandmarkTask(args)
    if name == "gaze":
        from train.gaze_task import GazeTask
        return GazeTask(args)
    if name == "detection":
        from train.detect_task import DetectionTask
        return DetectionTask(args)
    raise ValueError("unknown task %r (landmarks, gaze, detection)" % name)


TASK_ARGS = {"landmarks": "train.landmark_task", "gaze": "train.gaze_task",
             "detection": "train.detect_task"}  # each task's add_args


def training_defaults(task_name):
    """The defaults of every training argument of ``task_name`` (the loop's and the task's)."""
    import importlib
    from train import cli
    ap = argparse.ArgumentParser()
    cli.add_common_args(ap)
    importlib.import_module(TASK_ARGS[task_name]).add_args(ap)
    return vars(ap.parse_args(["--out", "."]))


def read_run_args(run_dir):
    """The arguments a run was trained with, from ``RUN_DIR/args.json``, as a Namespace; arguments added to
    the project after the run take their defaults."""
    path = os.path.join(run_dir, RUN_ARGS)
    try:
        with open(path) as f:
            saved = json.load(f)
    except FileNotFoundError:
        raise SystemExit("error: %s not found: %s is not a training run directory" % (path, run_dir))
    except json.JSONDecodeError as e:
        raise SystemExit("error: %s is not valid JSON: %s" % (path, e))
    args = training_defaults(saved.get("task_name", "landmarks"))
    args.update({k: v for k, v in saved.items() if k not in RUN_ONLY})
    return argparse.Namespace(**args)


def take_run_args(args, run_dir, keys):
    """Set ``keys`` of ``args`` from the run in ``run_dir`` (those it was trained with); returns ``args``.
    A run without args.json leaves ``args`` as given."""
    if not os.path.exists(os.path.join(run_dir, RUN_ARGS)):
        return args
    saved = vars(read_run_args(run_dir))
    for k in keys:
        if k in saved:
            setattr(args, k, saved[k])
    return args
