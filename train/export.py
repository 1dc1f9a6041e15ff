"""Export a trained network: ``model-symbol.json``, ``model-0000.params``, ``model-meta.json``.

The export holds only the deploy outputs (PFLD's pose head and other
training-only branches are dropped) and the network's own normalisation, so
``deploy/`` needs nothing else.  Training calls it at the end; to re-export a run:

    python train/export.py RUN_DIR [--params RUN_DIR/last.params]
"""
import argparse
import json
import os
import sys
import warnings

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def export_network(net, meta, prefix):
    """Export ``net`` (already holding its trained parameters) to ``prefix``-symbol/params/meta."""
    import mxnet as mx
    from symbols.common import DeployBlock
    net.collect_params().reset_ctx(mx.cpu())
    x = mx.nd.zeros(tuple(meta["input"]["shape"]))
    net(x)  # the whole network once: branches the export drops still finish their deferred initialisation
    deploy = DeployBlock(net, net.deploy["keep"], net.deploy["softmax"])
    deploy.hybridize()
    with warnings.catch_warnings():  # training-only branches (PFLD's pose head) are unused here on purpose
        warnings.filterwarnings("ignore", "Parameter .* is not used by any computation")
        deploy(x)
    deploy.export(prefix, epoch=0)
    with open(prefix + "-meta.json", "w") as f:
        json.dump(meta, f, indent=1)
    return prefix


def export_run(task, args, net, run_dir, metrics=None, params=None):
    """Export ``run_dir``'s network (``params``, default its best.params) with the task's meta."""
    params = params or os.path.join(run_dir, "best.params")
    if os.path.exists(params):
        net.load_parameters(params, ctx=net.collect_params().list_ctx())
    meta = task.export_meta(args, net)
    meta["metrics"] = metrics
    meta["params_file"] = os.path.basename(params)
    return export_network(net, meta, os.path.join(run_dir, "model"))


def main(argv=None):
    ap = argparse.ArgumentParser(description="Export a run's network for deploy/")
    ap.add_argument("run_dir")
    ap.add_argument("--params", help="default: RUN_DIR/best.params")
    a = ap.parse_args(argv)
    import mxnet as mx
    from train.task import make_task, read_run_args, warm_up
    args = read_run_args(a.run_dir)
    task = make_task(args.task_name, args)
    net = task.network(args)
    net.initialize(ctx=mx.cpu())
    warm_up(net, mx.cpu(), task.input_shape)
    metrics = None
    best = os.path.join(a.run_dir, "best_metrics.json")
    if os.path.exists(best):
        with open(best) as f:
            metrics = json.load(f)
    return export_run(task, args, net, a.run_dir, metrics, a.params)


if __name__ == "__main__":
    main()
