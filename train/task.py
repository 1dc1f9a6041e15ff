"""What a task is, and the pieces the loop, the export and the tasks share.

A *task* (landmarks, gaze, detection) says how to build its datasets, network, loss and metrics;
``train.loop.fit`` trains it and ``train.export`` exports it.  The tasks import this module (their base); the
registry of tasks and the reading back of a run's arguments are ``train.tasks``, which imports them.
"""

RUN_ARGS = "args.json"
RUN_ONLY = ("versions", "archive_meta_sha256")  # what args.json records beside the arguments


class Task:
    """What differs between tasks.

    A task knows its network's input when it is made (from its arguments and the archive's meta):
    ``input_shape`` (C, H, W).  Subclasses implement every method that raises NotImplementedError.
    """

    name = "task"
    metric = "loss"  # the validation metric that picks the best epoch
    lower_is_better = True
    layout = None  # the archives' LabelLayout
    network_args = ("model",)  # the arguments that build the network: test and export phases take them from the run

    def datasets(self, args, part_index, num_parts, seed=None):
        """(train dataset or None, val dataset or None), transformed to (uint8 CHW, label).

        ``seed`` (not None) gives every training sample its own augmentation stream, derived from
        (seed, epoch, sample): the same seed draws the same batches for any number of loader workers.
        """
        from recordio.dataset import RecordDataset
        train = (RecordDataset(args.train, self.transform(True), part_index, num_parts, seed=seed)
                 if args.train else None)
        val = RecordDataset(args.val, self.transform(False)) if args.val else None
        return train, val

    def transform(self, train):
        """The train or validation transform (a callable (image, label[, rng]) -> (data, label))."""
        raise NotImplementedError

    def field(self, label, name):
        """One label field of a batch (NDArray (N, width) -> (N, length))."""
        off, n = self.layout.offsets[name]
        return label.slice_axis(axis=1, begin=off, end=off + n)

    def network(self, args):
        raise NotImplementedError

    def init_network(self, net, train_ds):
        """Adjust a freshly initialised network to the training data (default: nothing)."""

    def sample_weights(self, train_ds):
        """How often each training sample is drawn, relative to the others ((N,) array), or None: each once per
        epoch (default)."""
        return None

    def loss(self, outputs, label):
        """Per-sample loss (N,) from the network outputs (tuple) and the label batch, or a dict of named
        parts (each (N,)) whose sum is the loss; the loop logs each part."""
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


def add_augmentation_args(group, zoom, shift):
    """The augmentation flags both tasks take (defaults: ``zoom`` and ``shift`` differ by task)."""
    from recordio.cli import renamed
    group.add_argument("--flip_prob", type=float, default=0.5, help="probability of a horizontal flip")
    group.add_argument("--zoom", type=float, default=zoom, help="zoom range 1 +- zoom")
    group.add_argument("--shift", type=float, default=shift, help="max shift, share of the input (view) side")
    group.add_argument("--color", type=float, default=0.3,
                       help="strength of brightness, contrast and saturation jitter")
    renamed(group, "--flip", "--flip_prob (at inference --flip is the switch for flip averaging)")
    renamed(group, "--scale", "--zoom")


def network_kwargs(args):
    """Constructor arguments every task adds for its network: ImageNet's input normalisation when the
    network starts from ImageNet weights (``--pretrained``)."""
    from symbols import model_defaults
    if getattr(args, "pretrained", None) is None:
        return {}
    if "norm" not in model_defaults(args.model):
        raise SystemExit("error: --pretrained: %s has no gluoncv backbone to start from ImageNet weights" % args.model)
    return {"norm": "imagenet"}


def warm_up(net, ctx, shape):
    """Run one forward pass on zeros of ``shape`` (C, H, W) so deferred shapes are known (before loading or
    exporting parameters)."""
    import mxnet as mx
    net(mx.nd.zeros((1,) + tuple(shape), ctx=ctx[0] if isinstance(ctx, (list, tuple)) else ctx))


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
