"""The training loop every task shares.

A task (``train.task``) says how to build its datasets, network, loss and metrics; ``fit`` trains it:
devices (``--gpu_ids``, batches through ``split_and_load(even_split=False)``), hybridized network,
Trainer (SGD or Adam, step, cosine or constant schedule with warm-up, local or distributed kvstore), a
validation pass each epoch, best-checkpoint selection, resume, finetuning with frozen layers, and the run
directory of DESIGN.md: ``args.json``, ``train.log``, ``metrics.csv``, ``last.params``/``last.states``,
``best.params``, ``curves.png``.  The entry scripts export the best network afterwards (``train.export``).
"""
import argparse
import csv
import glob
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
from train.task import RUN_ARGS, warm_up

log = logging.getLogger("train")

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
    with open(os.path.join(run_dir, RUN_ARGS), "w") as f:
        json.dump(info, f, indent=1, default=str)


def lr_scheduler(args, steps_per_epoch):
    import mxnet as mx
    warm = int(args.warmup_epochs * steps_per_epoch)
    total = max(args.epochs * steps_per_epoch, warm + 1)
    if args.lr_mode == "constant":
        if not warm:
            return None
        return mx.lr_scheduler.FactorScheduler(step=total + 1, factor=1.0, base_lr=args.lr, warmup_steps=warm,
                                               warmup_begin_lr=args.lr * 0.01)
    if args.lr_mode == "cosine":
        return mx.lr_scheduler.CosineScheduler(max_update=total, base_lr=args.lr, final_lr=args.lr * 1e-3,
                                               warmup_steps=warm, warmup_begin_lr=args.lr * 0.01)
    per = 1 if getattr(args, "lr_step_unit", "epoch") == "iter" else steps_per_epoch
    steps = [int(s) * per for s in args.lr_steps.split(",") if s.strip()]
    if not steps:
        steps = [int(total * 0.6), int(total * 0.85)]
    steps = sorted({s for s in steps if s > warm})  # MultiFactorScheduler needs increasing steps past warm-up
    if not steps:
        return None  # too short a run for any drop: a constant rate
    return mx.lr_scheduler.MultiFactorScheduler(step=steps, factor=args.lr_factor, base_lr=args.lr,
                                                warmup_steps=warm, warmup_begin_lr=args.lr * 0.01)


def batch_per_step(args, devices_count, workers=1):
    """The samples of one update on this worker: its share of ``--total_batch`` (split over the workers of a
    dist kvstore, then over this worker's devices), else ``--batch_size`` per device."""
    if getattr(args, "total_batch", 0):
        if args.total_batch % workers or args.total_batch < devices_count * workers:
            raise SystemExit("error: --total_batch %d does not split over %d workers of %d devices"
                             % (args.total_batch, workers, devices_count))
        return args.total_batch // workers
    return args.batch_size * devices_count


def initializer(args):
    """The weights' initialiser: ``--init xavier`` (this project's: Xavier, magnitude 2) or ``torch`` (PyTorch's
    default for convolutions and dense layers, which the course's and the gaze sources' code rely on: uniform
    within 1 / sqrt(fan_in); biases stay 0 here, where PyTorch draws them from the same range)."""
    import mxnet as mx
    if getattr(args, "init", "xavier") == "torch":
        return mx.init.Xavier(rnd_type="uniform", factor_type="in", magnitude=1)
    return mx.init.Xavier(magnitude=2)


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


RUN_FILES = ("args.json", "state.json", "metrics.csv", "train.log", "last.params", "last.states", "best.params",
             "best_metrics.json", "curves.png", "model-symbol.json", "model-0000.params", "model-meta.json",
             "model.onnx")


class EpochBatches:
    """The batches of every epoch, a pure function of (seed, epoch), so any number of loader workers (which
    read ahead) and a resumed run get the same ones.

    The samples of pass p over the shard are pass p's seeded order, each given as ``p * n + index`` so that the
    dataset knows the pass of each sample (``RecordDataset(seed=...)``: its augmentation draws from (seed, p,
    index)); the passes follow one another in one stream, cut into batches of ``batch``, and epoch e is the
    stream's batches ``e * steps`` to ``(e + 1) * steps - 1``.  A pass's last partial batch so rolls over into
    the next pass, and a batch larger than the shard is filled from two.  With ``weights`` a pass draws n samples
    with replacement, each with probability proportional to its weight."""

    def __init__(self, length, batch, steps, seed, epoch=0, weights=None):
        self.length, self.batch, self.steps, self.seed, self.epoch = length, batch, steps, tuple(seed), epoch
        self.p = None if weights is None else np.asarray(weights, np.float64) / np.sum(weights)

    def pass_order(self, p):
        """The keys of pass ``p`` in its order."""
        rng = np.random.default_rng([*self.seed, p, 0x5A3])
        order = rng.permutation(self.length) if self.p is None else rng.choice(self.length, self.length, p=self.p)
        return p * self.length + order

    def batches(self, epoch):
        """Epoch ``epoch``'s ``steps`` batches of keys."""
        start, stop = epoch * self.steps * self.batch, (epoch + 1) * self.steps * self.batch
        keys = np.concatenate([self.pass_order(p) for p in range(start // self.length, (stop - 1) // self.length + 1)])
        keys = keys[start - start // self.length * self.length:][: stop - start]
        return [keys[k:k + self.batch].tolist() for k in range(0, len(keys), self.batch)]

    def __iter__(self):
        """The next epoch's batches (the epoch advances on every call, as a DataLoader makes one per epoch)."""
        epoch, self.epoch = self.epoch, self.epoch + 1
        return iter(self.batches(epoch))

    def __len__(self):
        return self.steps


class WholeBatches:
    """A batch sampler that hands each batch of ``sampler`` to the dataset as one key (a tuple): the dataset
    makes the whole batch in one call (``RecordDataset.batch``), the label arithmetic done for all its
    samples at once."""

    def __init__(self, sampler):
        self.sampler = sampler

    def __iter__(self):
        return ([tuple(keys)] for keys in self.sampler)

    def __len__(self):
        return len(self.sampler)


def _writable(arr):
    """A numpy view of the memory of the CPU NDArray ``arr`` (nothing pending on it), to fill in place."""
    import ctypes

    from mxnet.base import _LIB, check_call
    ptr = ctypes.c_void_p()
    check_call(_LIB.MXNDArrayGetData(arr.handle, ctypes.byref(ptr)))
    size = int(np.prod(arr.shape)) * np.dtype(arr.dtype).itemsize
    return np.frombuffer((ctypes.c_uint8 * size).from_address(ptr.value), np.uint8).view(arr.dtype).reshape(arr.shape)


def _whole_batch(items, shared):
    from mxnet import context, nd
    from mxnet.gluon.data.dataloader import default_batchify_fn, default_mp_batchify_fn

    from recordio.dataset import Batch
    (made,) = items
    if not isinstance(made, Batch):  # a transform without ``batch``: the list of items
        return (default_mp_batchify_fn if shared else default_batchify_fn)(made)
    ctx = context.Context("cpu_shared", 0) if shared else context.cpu()
    data = nd.empty(made.shape, ctx=ctx, dtype=np.uint8)
    _, labels = made.arrays(out=_writable(data))  # the warps write into the memory handed over: no copy
    return [data, nd.array(labels, dtype=labels.dtype, ctx=ctx)]


def whole_batch(items):
    """The batchify function of ``WholeBatches`` in the main process."""
    return _whole_batch(items, False)


def whole_batch_shared(items):
    """The batchify function of ``WholeBatches`` in loader worker processes (arrays in shared memory)."""
    return _whole_batch(items, True)


def batch_loader(dataset, batch_sampler, workers):
    """A DataLoader whose workers make whole batches (``WholeBatches``)."""
    from mxnet import gluon
    return gluon.data.DataLoader(dataset, batch_sampler=WholeBatches(batch_sampler), num_workers=workers,
                                 batchify_fn=whole_batch_shared if workers else whole_batch, thread_pool=False)


class InOrder:
    """The batches of ``batch`` consecutive samples of ``length``, the last one short (validation)."""

    def __init__(self, length, batch):
        self.length, self.batch = length, batch

    def __iter__(self):
        return (list(range(k, min(k + self.batch, self.length))) for k in range(0, self.length, self.batch))

    def __len__(self):
        return -(-self.length // self.batch)


def train_loader(dataset, batch, workers, seed, steps, epoch=0, weights=None):
    """The training DataLoader: each pass over it is the next epoch's ``steps`` batches of ``EpochBatches``."""
    return batch_loader(dataset, EpochBatches(len(dataset), batch, steps, seed, epoch, weights), workers)


def val_loader(dataset, batch, workers):
    """The validation DataLoader: the samples in order, in batches of ``batch``."""
    return batch_loader(dataset, InOrder(len(dataset), batch), workers)


def claim_run_dir(args):
    """Stop when ``--out`` already holds a run, unless ``--resume`` (continue it) or ``--overwrite`` (whose
    run files are removed first)."""
    if not os.path.exists(os.path.join(args.out, RUN_ARGS)):
        return
    if args.overwrite:
        for path in [os.path.join(args.out, f) for f in RUN_FILES] + \
                glob.glob(os.path.join(args.out, "train-worker*.log")) + \
                glob.glob(os.path.join(args.out, "last-worker*.params")):
            if os.path.exists(path):
                os.remove(path)
    elif not args.resume:
        raise SystemExit("error: %s already holds a run (%s); pass --resume to continue it or --overwrite to "
                         "replace it" % (args.out, RUN_ARGS))


class Fitted:
    """What ``fit`` returns: the network (holding the last epoch's weights, or the calibrated best ones),
    the best epoch's metrics and this process's rank (exports are rank 0's)."""

    def __init__(self, net, metrics, rank, diverged=None):
        self.net, self.metrics, self.rank = net, metrics, rank
        self.diverged = diverged  # the epoch whose training loss was not finite (training stopped there)


def fit_and_export(task, args, export):
    """``fit``, then ``export(task, args, net, out, metrics)`` of the best epoch on rank 0 (unless
    ``--no_export``); a run that diverged exports its best epoch, then ends with an error saying so."""
    fitted = fit(task, args)
    kept = fitted.diverged is None or os.path.exists(os.path.join(args.out, "best.params"))
    if fitted.rank == 0 and not args.no_export and kept:
        export(task, args, fitted.net, args.out, fitted.metrics)
    if fitted.diverged is not None:
        raise SystemExit("error: %s: training diverged in epoch %d (training loss not finite); stopped there, %s "
                         "(lower --lr, or another --init)"
                         % (args.out, fitted.diverged,
                            "the best epoch before it exported" if fitted.metrics else "nothing to export"))
    return fitted


def fit(task, args):
    """Train ``task`` as ``args`` say; returns a ``Fitted``."""
    run = _Run(task, args)
    net = run.initialise()
    trainer = run.build_trainer(net)
    for epoch in range(run.start_epoch, args.epochs):
        row = run.one_epoch(net, trainer, epoch)
        if not np.isfinite(row["train_loss"]):  # nothing after this epoch can recover; keep what came before
            log.error("epoch %d: training loss %s: training diverged, stopped", epoch, row["train_loss"])
            fitted = run.finish(net)
            fitted.diverged = epoch
            return fitted
        run.checkpoint(net, trainer, epoch, row)
    return run.finish(net)


class _Run:
    """The steps of ``fit``, in the order it calls them, sharing one run's state."""

    def __init__(self, task, args):
        self.task, self.args = task, args
        self.kv, self.rank, self.workers = _kvstore(args)
        if self.rank == 0:
            claim_run_dir(args)
        setup_logging(args.out, "train.log" if self.rank == 0 else "train-worker%d.log" % self.rank)
        self.ctx = devices.contexts(args.gpu_ids)
        import mxnet as mx
        mx.random.seed(args.seed + self.rank)
        np.random.seed(args.seed + self.rank)
        if self.rank == 0:
            write_args(args, args.out)
        log.info("task %s, model %s, devices %s, kvstore %s (worker %d of %d)", task.name, getattr(args, "model", ""),
                 self.ctx, args.kvstore, self.rank, self.workers)
        self.state_path = os.path.join(args.out, "state.json")
        self.start_epoch, self.best = 0, None
        self.resumed = args.resume and os.path.exists(self.state_path)
        if self.resumed:
            with open(self.state_path) as f:
                state = json.load(f)
            self.start_epoch, self.best = state["epoch"] + 1, state.get("best")
        self._loaders()
        csv_path = os.path.join(args.out, "metrics.csv")
        self.history = _read_csv(csv_path) if args.resume else []
        self.best_metrics = None
        self.best_val = None  # the best epoch's validation outputs, kept for tasks that calibrate on them

    def _loaders(self):
        a = self.args
        self.train_ds, self.val_ds = self.task.datasets(a, self.rank, self.workers, seed=(a.seed, self.rank))
        workers = os.cpu_count() if a.num_workers is None else a.num_workers
        self.batch = batch_per_step(a, len(self.ctx), self.workers)
        if 2 * len(self.train_ds) < self.batch:  # a batch is filled from at most two passes (rollover)
            given = ("--total_batch %d" % a.total_batch if a.total_batch else
                     "--batch_size %d on %d devices" % (a.batch_size, len(self.ctx)))
            raise SystemExit("error: %s holds %d training samples (this worker's share), fewer than half a batch "
                             "of %d (%s): pass a smaller %s" % (a.train, len(self.train_ds), self.batch, given,
                                                                given.split()[0]))
        self.steps = max(1, len(self.train_ds) // self.batch)
        if a.max_batches:
            self.steps = min(self.steps, a.max_batches)
        if a.iters:  # the epochs the updates need, the last one cut short (one_epoch)
            a.epochs = -(-a.iters // self.steps)
        self.train_loader = train_loader(self.train_ds, self.batch, workers, (a.seed, self.rank), self.steps,
                                         self.start_epoch, self.task.sample_weights(self.train_ds))
        self.val_loader = val_loader(self.val_ds, self.batch, workers) if self.val_ds is not None else None

    def initialise(self):
        """The network: resumed from last.params, started from --finetune's parameters, or initialised afresh
        (then adjusted to the training data by the task); frozen layers; hybridized."""
        import mxnet as mx
        a, task, ctx = self.args, self.task, self.ctx
        net = task.network(a)
        if self.resumed:
            net.load_parameters(os.path.join(a.out, "last.params"), ctx=ctx)
            log.info("resumed from epoch %d", self.start_epoch - 1)
        elif a.finetune:
            net.initialize(initializer(a), ctx=ctx)
            warm_up(net, ctx, task.input_shape)
            saved = set(mx.nd.load(a.finetune))
            own = set(net._collect_params_with_prefix())
            if not saved & own:
                raise SystemExit("error: %s shares no parameter with %s (a checkpoint of another network?)"
                                 % (a.finetune, getattr(a, "model", "the network")))
            net.load_parameters(a.finetune, ctx=ctx, allow_missing=True, ignore_extra=True)
            log.info("finetuning from %s: %d of %d parameters loaded, %d new, %d in the file unused",
                     a.finetune, len(saved & own), len(own), len(own - saved), len(saved - own))
        else:
            net.initialize(initializer(a), ctx=ctx)
            warm_up(net, ctx, task.input_shape)
            if a.pretrained is not None:
                from symbols.common import load_imagenet
                loaded = load_imagenet(net, a.pretrained or None)
                log.info("ImageNet weights: %s", ", ".join("%s (%d arrays)" % kv for kv in loaded.items()))
            task.init_network(net, self.train_ds)
        if a.freeze:
            pattern = re.compile(a.freeze)
            frozen = [name for name, p in net.collect_params().items() if pattern.search(name)]
            for name in frozen:
                net.collect_params()[name].grad_req = "null"
            log.info("froze %d parameters matching %r", len(frozen), a.freeze)
        if not a.no_hybridize:
            net.hybridize(static_alloc=True, static_shape=False)
        return net

    def build_trainer(self, net):
        """The Trainer over the trainable parameters; a resumed run restores the optimizer's saved state
        (its update count, so the schedule continues where it stopped)."""
        from mxnet import gluon
        a = self.args
        opt = {"learning_rate": a.lr, "wd": a.wd}
        schedule = lr_scheduler(a, self.steps)
        if schedule is not None:
            opt["lr_scheduler"] = schedule
        if a.optimizer in ("sgd", "nag"):
            opt["momentum"] = a.momentum
        trainable = {k: v for k, v in net.collect_params().items() if v.grad_req != "null"}
        if a.kvstore.startswith("dist"):
            devices.plain_layout(trainable.values())
        trainer = gluon.Trainer(trainable, a.optimizer, opt, kvstore=self.kv)
        states = os.path.join(a.out, "last.states")
        if self.resumed and os.path.exists(states):
            trainer.load_states(states)
        return trainer

    def one_epoch(self, net, trainer, epoch):
        """Train one epoch and validate; the epoch's metrics row."""
        from mxnet import autograd, gluon
        a, task, ctx = self.args, self.task, self.ctx
        t0 = tic = time.time()
        sums, n, wait = {}, 0, 0.0
        it = iter(self.train_loader)  # this epoch's batches (EpochBatches)
        steps = min(self.steps, a.iters - epoch * self.steps) if a.iters else self.steps
        for i in range(steps):
            tw = time.time()
            data, label = next(it)
            wait += time.time() - tw
            datas = gluon.utils.split_and_load(data, ctx, even_split=False)
            labels = gluon.utils.split_and_load(label, ctx, even_split=False)
            with autograd.record():
                parts = []
                for x, y in zip(datas, labels):
                    out = net(x.astype("float32"))
                    loss = task.loss(out if isinstance(out, (tuple, list)) else (out,), y)
                    parts.append(loss if isinstance(loss, dict) else {"": loss})
                losses = [sum(p.values()) for p in parts]
            autograd.backward(losses)
            trainer.step(data.shape[0] * self.workers)  # dist kvstores sum the workers' gradients
            for p in parts:
                for name, value in p.items():
                    sums[name] = sums.get(name, 0.0) + float(value.sum().asscalar())
            n += data.shape[0]
            if a.log_interval and (i + 1) % a.log_interval == 0:
                log.info("epoch %d batch %d/%d loss %.5f lr %.2e %.1f samples/s", epoch, i + 1, self.steps,
                         sum(sums.values()) / n, trainer.learning_rate, n / (time.time() - tic))
        train_time = time.time() - t0
        row = {"epoch": epoch, "updates": epoch * self.steps + steps, "train_loss": sum(sums.values()) / max(n, 1)}
        if len(sums) > 1 or "" not in sums:
            row.update({"train_loss_" + name: v / max(n, 1) for name, v in sums.items()})
        row.update({"lr": trainer.learning_rate, "samples_per_s": n / max(train_time, 1e-9),
                    "data_wait_share": wait / max(train_time, 1e-9)})
        self.val_outputs = None
        if self.val_loader is not None:
            self.val_outputs = predict(net, self.val_loader, ctx)
            row.update(task.evaluate(*self.val_outputs))
        row["_time"] = train_time
        return row

    def checkpoint(self, net, trainer, epoch, row):
        """Save last.params/last.states, best.params when the metric improved, state.json and metrics.csv."""
        a, task = self.args, self.task
        train_time = row.pop("_time")
        metric = row.get(task.metric, row["train_loss"])
        improved = self.best is None or (metric < self.best if task.lower_is_better else metric > self.best)
        if self.rank == 0:
            net.save_parameters(os.path.join(a.out, "last.params"))
            if not a.kvstore.startswith("dist"):  # with a distributed kvstore the servers hold the states
                trainer.save_states(os.path.join(a.out, "last.states"))
            if improved:
                self.best = metric
                self.best_metrics = dict(row)
                net.save_parameters(os.path.join(a.out, "best.params"))
                if task.calibrates and self.val_outputs is not None:
                    self.best_val = self.val_outputs
            with open(self.state_path, "w") as f:
                json.dump({"epoch": epoch, "best": self.best, "metric": task.metric}, f)
        self.history.append(row)
        if self.rank == 0:
            _write_csv(os.path.join(a.out, "metrics.csv"), self.history)
        log.info("epoch %d done in %.1fs: %s%s", epoch, train_time,
                 ", ".join("%s %.5g" % (k, v) for k, v in row.items() if isinstance(v, (int, float)) and k != "epoch"),
                 " (best)" if improved else "")

    def finish(self, net):
        """Calibrate the best network where the task does (saved back to best.params), plot the curves and
        write best_metrics.json; every worker but rank 0 saves its weights (identical under dist_sync)."""
        a, task = self.args, self.task
        if self.rank > 0:
            net.save_parameters(os.path.join(a.out, "last-worker%d.params" % self.rank))
            return Fitted(net, self.best_metrics, self.rank)
        if self.best_metrics is None and self.history:
            self.best_metrics = self.history[-1]
        best_path = os.path.join(a.out, "best.params")
        if task.calibrates and self.val_loader is not None and os.path.exists(best_path):
            net.load_parameters(best_path, ctx=self.ctx)
            # a resumed run whose best epoch came before the resume has to predict them again
            calibration = task.calibrate(net, *(self.best_val or predict(net, self.val_loader, self.ctx)))
            net.save_parameters(best_path)
            self.best_metrics = dict(self.best_metrics or {}, **calibration)
            log.info("calibrated on the validation split: %s", ", ".join("%s %.4g" % kv for kv in calibration.items()))
        _plot(self.history, os.path.join(a.out, "curves.png"), task.metric)
        with open(os.path.join(a.out, "best_metrics.json"), "w") as f:
            json.dump(self.best_metrics, f, indent=1)
        return Fitted(net, self.best_metrics, self.rank)


def load_trained(task, args, ctx=None):
    """The network of a finished run with its parameters (``--params`` or OUT/best.params), on ``ctx``
    (default: the devices of ``--gpu_ids``)."""
    ctx = ctx or devices.contexts(args.gpu_ids)
    net = task.network(args)
    net.load_parameters(args.params or os.path.join(args.out, "best.params"), ctx=ctx)
    net.hybridize()
    return net


def evaluate_val(task, net, args, batch_size):
    """``task``'s metrics of ``net`` on the ``--val`` archive (validation transform)."""
    _, val = task.datasets(argparse.Namespace(**{**vars(args), "train": None}), 0, 1)
    outs, labels = predict(net, val_loader(val, batch_size, 0), devices.contexts(args.gpu_ids))
    return task.evaluate(outs, labels)


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
