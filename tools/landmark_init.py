"""Start a gaze network from a landmark model's weights: a parameter file for ``train_gaze.py --finetune``.

    python tools/landmark_init.py deploy/models/course21/model OUT.params [--member 0] [--model landmark_gaze]

Copies, by name, every weight of the landmark export's network (one member of an ensemble, ``--member``)
that the gaze network shares with it (``landmark_gaze``: the course stage-3 heatmap CNN's trunk and
upsampling layers); the gaze head keeps its fresh initialisation.  Refuses an export that fills none of them
or whose shapes differ, naming the file.
"""
import argparse
import os
import sys

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from recordio.cli import run  # noqa: E402

SHARED = "coursecnn0_"  # where the landmark network's own parameter names start


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("landmarks", help="landmark export prefix (PREFIX-symbol.json, PREFIX-0000.params)")
    ap.add_argument("out", help="parameter file to write")
    ap.add_argument("--member", type=int, default=0, help="which member of an ensemble export")
    ap.add_argument("--model", default="landmark_gaze")
    ap.add_argument("--seed", type=int, default=0, help="seeds the gaze head's initialisation")
    return ap.parse_args(argv)


def landmark_init(landmarks, out, member=0, model="landmark_gaze", seed=0):
    """Write ``out``; returns (copied, fresh) parameter counts."""
    import mxnet as mx

    from symbols import get_model
    path = landmarks + "-0000.params"
    if not os.path.isfile(path):
        raise SystemExit("error: %s: no such landmark export" % path)
    saved = {}
    for key, arr in mx.nd.load(path).items():
        name = key.split(":", 1)[-1]
        if SHARED not in name:
            continue
        head, tail = name.split(SHARED, 1)
        if head in ("", "m%d_" % member):
            saved[tail] = arr
    if not saved:
        raise SystemExit("error: %s: no %s parameters of member %d (a course CNN landmark export?)"
                         % (path, SHARED.rstrip("_"), member))
    mx.random.seed(seed)
    net = get_model(model)
    net.initialize(mx.init.Xavier())
    net(mx.nd.zeros((1,) + tuple(net.input_shape)))
    copied = fresh = 0
    for p in net.collect_params().values():
        tail = p.name.split(SHARED, 1)[-1] if SHARED in p.name else None
        if tail is None or tail not in saved:
            fresh += 1
            continue
        if saved[tail].shape != p.shape:
            raise SystemExit("error: %s: %s has shape %s, %s needs %s"
                             % (path, tail, saved[tail].shape, model, p.shape))
        p.set_data(saved[tail])
        copied += 1
    if not copied:
        raise SystemExit("error: %s: shares no parameter with %s" % (path, model))
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    net.save_parameters(out)
    return copied, fresh


def main(argv=None):
    a = parse_args(argv)
    copied, fresh = landmark_init(a.landmarks, a.out, a.member, a.model, a.seed)
    print("%s: %d parameters from %s (member %d), %d fresh" % (a.out, copied, a.landmarks, a.member, fresh))


if __name__ == "__main__":
    run(main)
