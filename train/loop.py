"""The training loop every task shares.

A *task* (landmarks, gaze, ...) says how to build its datasets, network,
loss and metrics; ``fit`` does the rest: devices (``--gpu_ids``, batches
through ``split_and_load(even_split=False)``), hybridized network, Trainer
(SGD or Adam, step or cosine schedule with warm-up, local or distributed
kvstore), a validation pass each epoch, best-checkpoint selection, resume,
finetuning with frozen layers, and the run directory of DESIGN.md:
``args.json``, ``train.log``, ``metrics.csv``, ``last.params``/``last.states``,
``best.params``, ``curves.png`` and the export (``model-*``).
"""
import argparse
import csv
import hashlib
import json
import logging
import os
import re
import sys
import time

import numpy as np

from recordio import devices
from recordio.schema import PROJECT_VERSION

log = logging.getLogger("train")


def add_common_args(ap):
    g = ap.add_argument_group("training loop")
    g.add_argument("--train", help="training archive prefix")
    g.add_argument("--val", help="validation archive prefix (scored every epoch)")
    g.add_argument("--out", required=True, help="run directory")
    g.add_argument("--gpu_ids", default="", help="e.g. 0,1,2,3; empty = CPU (cpu:0,cpu:1 = several CPU contexts)")
    g.add_argument("--batch_size", type=int, default=32, help="per device")
    g.add_argument("--epochs", type=int, default=30)
    g.add_argument("--optimizer", choices=("sgd", "adam"), default="adam")
    g.add_argument("--lr", type=float, default=1e-3)
    g.add_argument("--wd", type=float, default=1e-4)
    g.add_argument("--momentum", type=float, default=0.9)
    g.add_argument("--lr_mode", choices=("step", "cosine"), default="cosine")
    g.add_argument("--lr_steps", default="", help="step mode: epochs at which the rate drops, e.g. 20,30")
    g.add_argument("--lr_factor", type=float, default=0.1)
    g.add_argument("--warmup_epochs", type=float, default=1.0)
    g.add_argument("--num_workers", type=int, default=None, help="data loader processes (default: cores)")
    g.add_argument("--kvstore", default="device", choices=("local", "device", "dist_sync", "dist_device_sync",
                                                           "dist_async", "nccl"))
    g.add_argument("--resume", action="store_true", help="continue the run in --out from last.params")
    g.add_argument("--finetune", help="start from these params (missing/extra names allowed)")
    g.add_argument("--freeze", default="", help="regex of parameter names not to train (with --finetune)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--log_interval", type=int, default=20, help="batches between log lines")
    g.add_argument("--max_batches", type=int, default=0, help="stop each epoch after this many batches (tests)")
    g.add_argument("--no_hybridize", action="store_true")
    g.add_argument("--no_export", action="store_true")
    return ap


class Task:
    """What differs between tasks.  Subclasses implement every method."""

    name = "task"
    metric = "loss"  # the validation metric that picks the best epoch
    lower_is_better = True

    layout = None  # the archives' LabelLayout

    def datasets(self, args, part_index, num_parts):
        """(train dataset or None, val dataset or None), transformed to (uint8 CHW, label)."""
        from recordio.dataset import RecordDataset
        if getattr(self, "_net", None) is None:
            self.network(args)
        train = RecordDataset(args.train, self._transform(True), part_index, num_parts) if args.train else None
        val = RecordDataset(args.val, self._transform(False)) if args.val else None
        return train, val

    def _transform(self, train):
        """The train or validation transform (a callable (image, label) -> (data, label))."""
        raise NotImplementedError

    def _field(self, label, name):
        """One label field of a batch (NDArray (N, width) -> (N, length))."""
        off, n = self.layout.offsets[name]
        return label.slice_axis(axis=1, begin=off, end=off + n)

    def network(self, args):
        raise NotImplementedError

    def init_network(self, net, train_ds):
        """Adjust a freshly initialised network to the training data (default: nothing)."""

    def loss(self, outputs, label):
        """Per-sample loss NDArray (N,) from the network outputs (tuple) and the label batch."""
        raise NotImplementedError

    def evaluate(self, outputs, labels):
        """Metrics dict from numpy outputs (list, one array per network output) and labels."""
        raise NotImplementedError

    def export_meta(self, args, net):
        raise NotImplementedError

    calibrates = False  # True: after training, ``calibrate`` fits settings of the best network on validation

    def calibrate(self, net, outputs, labels):
        """Fit post-training settings of ``net`` on the validation outputs; a dict of what changed."""
        raise NotImplementedError


def setup_logging(run_dir, filename="train.log"):
    os.makedirs(run_dir, exist_ok=True)
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    fmt = logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S")
    for h in list(root.handlers):
        if getattr(h, "_train_run", False):
            root.removeHandler(h)
    fh = logging.FileHandler(os.path.join(run_dir, filename))
    sh = logging.StreamHandler(sys.stdout)
    for h in (fh, sh):
        h.setFormatter(fmt)
        h._train_run = True
        root.addHandler(h)


def _digest(prefix):
    if not prefix:
        return None
    path = prefix + ".meta.json"
    if not os.path.exists(path):
        return None
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


def write_args(args, run_dir):
    import mxnet as mx
    info = dict(vars(args))
    info["versions"] = {"project": PROJECT_VERSION, "mxnet": mx.__version__, "numpy": np.__version__,
                        "python": sys.version.split()[0]}
    info["archive_meta_sha256"] = {"train": _digest(args.train), "val": _digest(args.val)}
    with open(os.path.join(run_dir, "args.json"), "w") as f:
        json.dump(info, f, indent=1, default=str)


def lr_scheduler(args, steps_per_epoch):
    import mxnet as mx
    warm = int(args.warmup_epochs * steps_per_epoch)
    total = max(args.epochs * steps_per_epoch, warm + 1)
    if args.lr_mode == "cosine":
        return mx.lr_scheduler.CosineScheduler(max_update=total, base_lr=args.lr, final_lr=args.lr * 1e-3,
                                               warmup_steps=warm, warmup_begin_lr=args.lr * 0.01)
    steps = [int(s) * steps_per_epoch for s in args.lr_steps.split(",") if s.strip()]
    if not steps:
        steps = [int(total * 0.6), int(total * 0.85)]
    steps = sorted({s for s in steps if s > warm})  # MultiFactorScheduler needs increasing steps past warm-up
    if not steps:
        return None  # too short a run for any drop: a constant rate
    return mx.lr_scheduler.MultiFactorScheduler(step=steps, factor=args.lr_factor, base_lr=args.lr,
                                                warmup_steps=warm, warmup_begin_lr=args.lr * 0.01)


def _kvstore(args):
    import mxnet as mx
    if args.kvstore.startswith("dist"):
        kv = mx.kv.create(args.kvstore)
        return kv, kv.rank, kv.num_workers
    return args.kvstore, 0, 1


def predict(net, loader, ctx):
    """Run ``net`` over ``loader``; returns (list of output arrays, labels array)."""
    import mxnet as mx
    from mxnet import gluon
    outs, labels = None, []
    for data, label in loader:
        parts = gluon.utils.split_and_load(data, ctx, even_split=False)
        res = [net(x.astype("float32")) for x in parts]
        res = [r if isinstance(r, (tuple, list)) else (r,) for r in res]
        batch = [np.concatenate([r[k].asnumpy() for r in res]) for k in range(len(res[0]))]
        outs = [[b] for b in batch] if outs is None else [o + [b] for o, b in zip(outs, batch)]
        labels.append(label.asnumpy())
    mx.nd.waitall()
    if outs is None:
        return [], np.zeros((0,))
    return [np.concatenate(o) for o in outs], np.concatenate(labels)


def fit(task, args):
    """Train ``task`` as ``args`` say; returns the best validation metrics."""
    import mxnet as mx
    from mxnet import autograd, gluon

    run_dir = args.out
    kv, rank, num_workers = _kvstore(args)
    setup_logging(run_dir, "train.log" if rank == 0 else "train-worker%d.log" % rank)
    ctx = devices.contexts(args.gpu_ids)
    mx.random.seed(args.seed + rank)
    np.random.seed(args.seed + rank)
    if rank == 0:
        write_args(args, run_dir)
    log.info("task %s, model %s, devices %s, kvstore %s (worker %d of %d)", task.name, getattr(args, "model", ""),
             ctx, args.kvstore, rank, num_workers)

    train_ds, val_ds = task.datasets(args, rank, num_workers)
    workers = os.cpu_count() if args.num_workers is None else args.num_workers
    batch = args.batch_size * len(ctx)
    train_loader = gluon.data.DataLoader(train_ds, batch_size=batch, shuffle=True, last_batch="rollover",
                                         num_workers=workers, thread_pool=False)
    val_loader = gluon.data.DataLoader(val_ds, batch_size=batch, shuffle=False, num_workers=workers) \
        if val_ds is not None else None
    steps = max(1, len(train_ds) // batch)
    if args.max_batches:
        steps = min(steps, args.max_batches)

    net = task.network(args)
    state_path = os.path.join(run_dir, "state.json")
    start_epoch, best = 0, None
    if args.resume and os.path.exists(state_path):
        with open(state_path) as f:
            state = json.load(f)
        net.load_parameters(os.path.join(run_dir, "last.params"), ctx=ctx)
        start_epoch, best = state["epoch"] + 1, state.get("best")
        log.info("resumed from epoch %d", state["epoch"])
    elif args.finetune:
        net.initialize(mx.init.Xavier(magnitude=2), ctx=ctx)
        _warm_up(net, ctx)
        saved = set(mx.nd.load(args.finetune))
        own = set(net._collect_params_with_prefix())
        if not saved & own:
            raise SystemExit("error: %s shares no parameter with %s (a checkpoint of another network?)"
                             % (args.finetune, getattr(args, "model", "the network")))
        net.load_parameters(args.finetune, ctx=ctx, allow_missing=True, ignore_extra=True)
        log.info("finetuning from %s: %d of %d parameters loaded, %d new, %d in the file unused",
                 args.finetune, len(saved & own), len(own), len(own - saved), len(saved - own))
    else:
        net.initialize(mx.init.Xavier(magnitude=2), ctx=ctx)
        if train_ds is not None:
            _warm_up(net, ctx)
            task.init_network(net, train_ds)
    frozen = []
    if args.freeze:
        pattern = re.compile(args.freeze)
        for name, p in net.collect_params().items():
            if pattern.search(name):
                p.grad_req = "null"
                frozen.append(name)
        log.info("froze %d parameters matching %r", len(frozen), args.freeze)
    if not args.no_hybridize:
        net.hybridize(static_alloc=True, static_shape=False)

    opt = {"learning_rate": args.lr, "wd": args.wd}
    schedule = lr_scheduler(args, steps)
    if schedule is not None:
        opt["lr_scheduler"] = schedule
    if args.optimizer == "sgd":
        opt["momentum"] = args.momentum
    trainable = {k: v for k, v in net.collect_params().items() if v.grad_req != "null"}
    trainer = gluon.Trainer(trainable, args.optimizer, opt, kvstore=kv)
    if args.resume and start_epoch > 0 and os.path.exists(os.path.join(run_dir, "last.states")):
        trainer.load_states(os.path.join(run_dir, "last.states"))
        trainer._optimizer.num_update = start_epoch * steps  # the schedule continues where it stopped
        trainer._optimizer.begin_num_update = start_epoch * steps

    csv_path = os.path.join(run_dir, "metrics.csv")
    history = _read_csv(csv_path) if args.resume else []
    best_metrics = None
    best_val = None  # the best epoch's validation outputs, kept for tasks that calibrate on them
    for epoch in range(start_epoch, args.epochs):
        t0 = time.time()
        total, n, wait = 0.0, 0, 0.0
        tic = time.time()
        it = iter(train_loader)
        for i in range(steps):
            tw = time.time()
            try:
                data, label = next(it)
            except StopIteration:
                it = iter(train_loader)
                data, label = next(it)
            wait += time.time() - tw
            datas = gluon.utils.split_and_load(data, ctx, even_split=False)
            labels = gluon.utils.split_and_load(label, ctx, even_split=False)
            with autograd.record():
                losses = []
                for x, y in zip(datas, labels):
                    out = net(x.astype("float32"))
                    losses.append(task.loss(out if isinstance(out, (tuple, list)) else (out,), y))
            autograd.backward(losses)
            trainer.step(data.shape[0] * num_workers)  # dist kvstores sum the workers' gradients
            total += sum(float(l.sum().asscalar()) for l in losses)
            n += data.shape[0]
            if args.log_interval and (i + 1) % args.log_interval == 0:
                log.info("epoch %d batch %d/%d loss %.5f lr %.2e %.1f samples/s", epoch, i + 1, steps, total / n,
                         trainer.learning_rate, n / (time.time() - tic))
        train_time = time.time() - t0
        row = {"epoch": epoch, "train_loss": total / max(n, 1), "lr": trainer.learning_rate,
               "samples_per_s": n / max(train_time, 1e-9), "data_wait_share": wait / max(train_time, 1e-9)}
        if val_loader is not None:
            outs, labs = predict(net, val_loader, ctx)
            row.update(task.evaluate(outs, labs))
        metric = row.get(task.metric, row["train_loss"])
        improved = best is None or (metric < best if task.lower_is_better else metric > best)
        if rank == 0:
            net.save_parameters(os.path.join(run_dir, "last.params"))
            if not args.kvstore.startswith("dist"):  # with a distributed kvstore the servers hold the states
                trainer.save_states(os.path.join(run_dir, "last.states"))
            if improved:
                best = metric
                best_metrics = dict(row)
                net.save_parameters(os.path.join(run_dir, "best.params"))
                if task.calibrates and val_loader is not None:
                    best_val = (outs, labs)
            with open(state_path, "w") as f:
                json.dump({"epoch": epoch, "best": best, "metric": task.metric}, f)
        history.append(row)
        if rank == 0:
            _write_csv(csv_path, history)
        log.info("epoch %d done in %.1fs: %s%s", epoch, train_time,
                 ", ".join("%s %.5g" % (k, v) for k, v in row.items() if isinstance(v, (int, float)) and k != "epoch"),
                 " (best)" if improved else "")
    if rank > 0:  # every worker's final weights, to check that synchronous training kept them identical
        net.save_parameters(os.path.join(run_dir, "last-worker%d.params" % rank))
    if rank == 0:
        if best_metrics is None and history:
            best_metrics = history[-1]
        best_path = os.path.join(run_dir, "best.params")
        if task.calibrates and val_loader is not None and os.path.exists(best_path):
            net.load_parameters(best_path, ctx=ctx)
            # a resumed run whose best epoch came before the resume has to predict them again
            calibration = task.calibrate(net, *(best_val or predict(net, val_loader, ctx)))
            net.save_parameters(best_path)
            best_metrics = dict(best_metrics or {}, **calibration)
            log.info("calibrated on the validation split: %s",
                     ", ".join("%s %.4g" % kv for kv in calibration.items()))
        _plot(history, os.path.join(run_dir, "curves.png"), task.metric)
        if not args.no_export:
            from train.export import export_run
            export_run(task, args, net, run_dir, best_metrics)
        with open(os.path.join(run_dir, "best_metrics.json"), "w") as f:
            json.dump(best_metrics, f, indent=1)
    return best_metrics


def load_trained(task, args):
    """The network of a finished run with its parameters (``--params`` or OUT/best.params), on the CPU."""
    import mxnet as mx
    net = task.network(args)
    net.load_parameters(args.params or os.path.join(args.out, "best.params"), ctx=mx.cpu())
    net.hybridize()
    return net


def evaluate_val(task, net, args, batch_size):
    """``task``'s metrics of ``net`` on the ``--val`` archive (validation transform)."""
    import mxnet as mx
    from mxnet import gluon
    _, val = task.datasets(argparse.Namespace(**{**vars(args), "train": None}), 0, 1)
    outs, labels = predict(net, gluon.data.DataLoader(val, batch_size=batch_size), [mx.cpu()])
    return task.evaluate(outs, labels)


def start_output_at(net, values):
    """Start the one layer whose bias is as wide as ``values`` at ``values``: its bias is set to them and
    its weights are redrawn at a tenth of the loop's Xavier(magnitude=2) scale (drawn afresh, not read
    back and scaled).  Returns False, changing nothing, when no single layer has a bias that wide."""
    import mxnet as mx
    params = net.collect_params()
    heads = [n for n, p in params.items() if n.endswith("bias") and p.shape == (len(values),)]
    if len(heads) != 1:
        return False
    params[heads[0]].set_data(mx.nd.array(values, dtype="float32"))
    weight = params[heads[0][:-len("bias")] + "weight"]
    weight.initialize(mx.init.Xavier(magnitude=0.02), ctx=weight.list_ctx(), force_reinit=True)
    return True


def _warm_up(net, ctx):
    """Run one forward so deferred shapes are known before loading parameters."""
    import mxnet as mx
    shape = getattr(net, "input_shape", None) or (net.input_channels, net.input_size, net.input_size)
    x = mx.nd.zeros((1,) + tuple(shape), ctx=ctx[0])
    net(x)


def _read_csv(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(f)]


def _write_csv(path, rows):
    keys = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in keys})


def _plot(history, path, metric):
    if not history:
        return
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    epochs = [r["epoch"] for r in history]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    axes[0].plot(epochs, [r["train_loss"] for r in history], label="train loss")
    axes[0].set_xlabel("epoch")
    axes[0].set_yscale("log")
    axes[0].legend()
    if metric in history[-1]:
        axes[1].plot(epochs, [r.get(metric, np.nan) for r in history], label="val " + metric, color="C1")
        axes[1].set_xlabel("epoch")
        axes[1].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def common_parser(description):
    return add_common_args(argparse.ArgumentParser(description=description))
