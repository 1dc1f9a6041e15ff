"""The arguments of every training run (the shared loop's), in one place for the entry scripts and for
reading old runs back (``train.tasks.training_defaults``)."""


def add_common_args(ap):
    g = ap.add_argument_group("training loop")
    g.add_argument("--train", help="training archive prefix")
    g.add_argument("--val", help="validation archive prefix (scored every epoch)")
    g.add_argument("--out", required=True, help="run directory")
    g.add_argument("--gpu_ids", default="", help="e.g. 0,1,2,3; empty = CPU (cpu:0,cpu:1 = several CPU contexts)")
    g.add_argument("--batch_size", type=int, default=32, help="per device (see --total_batch)")
    g.add_argument("--total_batch", type=int, default=0,
                   help="the batch over all devices, split over them (what the source papers and their code give), "
                        "instead of --batch_size per device")
    g.add_argument("--epochs", type=int, default=30)
    g.add_argument("--iters", type=int, default=0,
                   help="train for this many updates instead (the epochs become as many as they need, the last "
                        "one cut short), as sources that count iterations (MC4: 200000)")
    g.add_argument("--optimizer", choices=("sgd", "nag", "adam"), default="adam",
                   help="nag: SGD with Nesterov momentum")
    g.add_argument("--lr", type=float, default=1e-3)
    g.add_argument("--wd", type=float, default=1e-4)
    g.add_argument("--momentum", type=float, default=0.9)
    g.add_argument("--lr_mode", choices=("step", "cosine", "constant"), default="cosine",
                   help="constant: --lr throughout (after any warm-up), as PFLD's fixed Adam 1e-4")
    g.add_argument("--lr_steps", default="", help="step mode: epochs at which the rate drops, e.g. 20,30")
    g.add_argument("--lr_step_unit", choices=("epoch", "iter"), default="epoch",
                   help="--lr_steps counts epochs or updates (MC4's text: 10000,20000,25000 updates)")
    g.add_argument("--lr_factor", type=float, default=0.1)
    g.add_argument("--warmup_epochs", type=float, default=1.0)
    g.add_argument("--num_workers", type=int, default=None, help="data loader processes (default: cores)")
    g.add_argument("--kvstore", default="device", choices=("local", "device", "dist_sync", "dist_device_sync",
                                                           "dist_async", "nccl"))
    g.add_argument("--resume", action="store_true", help="continue the run in --out from last.params")
    g.add_argument("--overwrite", action="store_true", help="start again in an --out that holds a run, replacing it")
    g.add_argument("--onnx", action="store_true",
                   help="also export OUT/model.onnx at the end (train/export.py: opset, parity in model-meta.json)")
    g.add_argument("--finetune", help="start from these params (missing/extra names allowed)")
    g.add_argument("--pretrained", nargs="?", const="", metavar="PATH",
                   help="start the network's gluoncv backbone(s) from ImageNet weights, with the input normalisation "
                        "they expect: from gluoncv's local model store (~/.mxnet/models, or $MXNET_HOME/models), or "
                        "PATH (a .params file or a store folder); nothing is downloaded"),
    g.add_argument("--freeze", default="", help="regex of parameter names not to train (with --finetune)")
    g.add_argument("--init", choices=("xavier", "torch"), default="xavier",
                   help="fresh weights: Xavier (magnitude 2) or PyTorch's default (uniform within 1/sqrt(fan_in)), "
                        "as the sources written in PyTorch start")
    g.add_argument("--seed", type=int, default=0,
                   help="seeds the initialisation, the sample order and every sample's augmentation")
    g.add_argument("--log_interval", type=int, default=20, help="batches between log lines")
    g.add_argument("--max_batches", type=int, default=0, help="stop each epoch after this many batches (tests)")
    g.add_argument("--no_hybridize", action="store_true")
    g.add_argument("--no_export", action="store_true")
    return ap
