"""Export a trained network: ``model-symbol.json``, ``model-0000.params``, ``model-meta.json``, and with
``--onnx`` also ``model.onnx``.

The export holds only the deploy outputs (PFLD's pose head and other
training-only branches are dropped) and the network's own normalisation, so
``deploy/`` needs nothing else.  Training calls it at the end; to re-export a run:

    python train/export.py RUN_DIR [--params RUN_DIR/last.params] [--onnx]
    python train/export.py --onnx_of PREFIX           # an existing export's PREFIX.onnx

Every export's ``-meta.json`` records the digest of its ``-0000.params`` (``params_sha256``), and every ONNX
file the digest of the params it was converted from: ``deploy/`` refuses weights or an ONNX file that do not
belong to the meta.  Re-exporting removes the ``PREFIX.onnx`` of the weights it replaces.

An ensemble (``export_ensemble``): several exports of one task, schema, input and outputs become one export
whose every output is the members' mean (each member's weights renamed ``m0_``, ``m1_``, ... under one input),
so everything that loads an export (``deploy/``, ONNX) runs the ensemble as it runs one network:

    python train/export.py --ensemble RUN_A/model RUN_B/model --out DIR/model [--onnx]

ONNX (``export_onnx``, by ``recordio.onnxconv.to_onnx``): MXNet's converter (``mxnet.onnx``) at opset 13 with a
dynamic batch dimension, then the repairs of what it gets wrong or leaves for ONNX Runtime to trip on, each
checked by the parity tests (``tests/test_onnx.py``, MTCNN's in ``tests/test_mtcnn.py``):
- PReLU after a convolution (MTCNN): the converter writes the slope as (C,), which ONNX broadcasts over the
  last axis (width); it becomes (C, 1, 1);
- average pooling with ``ceil_mode`` (the course CNNs): MXNet never counts the cells a ceil'd window hangs
  over the edge, but the converter writes ``count_include_pad=1``, which ONNX Runtime counts; with no
  padding the two agree once ``count_include_pad=0``;
- the converter stamps the model with the newest opset onnx knows (21) while writing opset-13 operators
  (``Split`` without ``num_outputs`` fails to load): the model declares the opset it was written for;
- weights listed as graph inputs (ONNX Runtime cannot fold them as constants), weights no node reads (the
  dropped training heads' leftovers) and nodes without names (its ``GatherSliceToSplitFusion`` then makes
  duplicate names): weights leave the inputs, unread ones go, every node gets a name.
Networks avoid what the converter cannot express: Gaze360's LSTM is two one-layer bidirectional LSTMs
(the converter takes one layer) and reshapes with plain sizes (MXNet's special ``-4`` has no ONNX form).
``model-meta.json`` records the opset, the ONNX file and the parity measured at export (the largest output
difference relative to the output's scale, batch 1 and 8, on random pixels).
"""
import argparse
import json
import os
import sys
import warnings

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def remove_stale_onnx(prefix):
    """Remove ``prefix.onnx``: it was converted from weights an export is about to replace."""
    if os.path.exists(prefix + ".onnx"):
        os.remove(prefix + ".onnx")


def write_export_meta(prefix, meta):
    """``prefix-meta.json`` with the digest of the ``prefix-0000.params`` written beside it (what
    ``deploy/`` checks the params and an ONNX file against)."""
    from recordio.schema import PARAMS_DIGEST, file_sha256
    meta[PARAMS_DIGEST] = file_sha256(prefix + "-0000.params")
    with open(prefix + "-meta.json", "w") as f:
        json.dump(meta, f, indent=1)


def export_network(net, meta, prefix):
    """Export ``net`` (already holding its trained parameters) to ``prefix``-symbol/params/meta; an older
    ``prefix.onnx`` is removed (``export_onnx`` writes one from these weights)."""
    import mxnet as mx
    from symbols.common import DeployBlock
    remove_stale_onnx(prefix)
    net.collect_params().reset_ctx(mx.cpu())
    # the weights as they are now, before any forward: an inference forward lets MXNet's CPU (MKLDNN) layers
    # turn weights into their own layout in place, and a transposed convolution's weight was once read back
    # from that layout scrambled into the saved file; the file gets these values instead
    values = {}
    for p in net.collect_params().values():
        try:
            values[p.name] = p.data().asnumpy()
        except mx.gluon.parameter.DeferredInitializationError:
            pass  # shaped by the forward below
    x = mx.nd.zeros(tuple(meta["input"]["shape"]))
    net(x)  # the whole network once: branches the export drops still finish their deferred initialisation
    deploy = DeployBlock(net, net.deploy["keep"], net.deploy["softmax"])
    deploy.hybridize()
    with warnings.catch_warnings():  # training-only branches (PFLD's pose head) are unused here on purpose
        warnings.filterwarnings("ignore", "Parameter .* is not used by any computation")
        deploy(x)
    deploy.export(prefix, epoch=0)
    saved = mx.nd.load(prefix + "-0000.params")
    for key in saved:
        name = key.split(":", 1)[1]
        if name in values:
            saved[key] = mx.nd.array(values[name], dtype=saved[key].dtype)
    mx.nd.save(prefix + "-0000.params", saved)
    write_export_meta(prefix, meta)
    return prefix


from recordio.onnxconv import ONNX_OPSET, relative_difference, to_onnx  # noqa: E402  (the converter and its repairs)
PARITY_BATCHES = (1, 8)


def export_onnx(prefix, check=True):
    """Convert the export ``prefix`` to ``prefix.onnx`` (dynamic batch); with ``check``, measure its parity
    against MXNet on random pixels and record opset, file and parity in ``prefix-meta.json``.  A network the
    converter cannot take stops with a message naming the operator.  The ONNX file carries the digest of the
    ``prefix-0000.params`` it was converted from (its metadata's ``params_sha256``, also in the meta's
    ``onnx``), which ``deploy.predictor`` checks against the export before it runs the file."""
    import mxnet as mx
    import numpy as np
    import onnx
    from mxnet.onnx.mx2onnx._export_model import load_module
    from onnx import helper
    from recordio.schema import PARAMS_DIGEST, check_params_digest, file_sha256, read_export_meta
    meta = read_export_meta(prefix)
    check_params_digest(prefix, meta)
    digest = file_sha256(prefix + "-0000.params")
    if meta.get(PARAMS_DIGEST) != digest:  # an export older than the digest: it is these params from now on
        write_export_meta(prefix, meta)
    shape = tuple(meta["input"]["shape"])
    sym, params = load_module(prefix + "-symbol.json", prefix + "-0000.params")
    try:
        model = to_onnx(sym, params, shape, (None,) + shape[1:])
    except (AttributeError, KeyError, NotImplementedError) as e:
        raise SystemExit("error: %s cannot be converted to ONNX: %s (MXNet's converter lacks or rejects this "
                         "operator)" % (prefix, e))
    helper.set_model_props(model, {PARAMS_DIGEST: digest})
    onnx.checker.check_model(model)
    path = prefix + ".onnx"
    onnx.save(model, path)
    if check:
        import onnxruntime as ort
        x = np.random.default_rng(0).uniform(0, 255, (max(PARITY_BATCHES),) + shape[1:]).astype(np.float32)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Cannot decide type")
            ref = mx.gluon.SymbolBlock.imports(prefix + "-symbol.json", [meta["input"]["name"]],
                                               prefix + "-0000.params")
        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        parity = {}
        for n in PARITY_BATCHES:
            want = ref(mx.nd.array(x[:n]))
            want = want if isinstance(want, (list, tuple)) else [want]
            got = session.run(None, {session.get_inputs()[0].name: x[:n]})
            parity["batch%d" % n] = max(relative_difference(a, b.asnumpy()) for a, b in zip(got, want))
        meta["onnx"] = {"file": os.path.basename(path), "opset": ONNX_OPSET, "dynamic_batch": True,
                        "parity": parity, PARAMS_DIGEST: digest, "onnx_version": onnx.__version__,
                        "mxnet_version": mx.__version__}
        with open(prefix + "-meta.json", "w") as f:
            json.dump(meta, f, indent=1)
    return path


def check_export(net, params, prefix):
    """Stop if the export ``prefix`` holds a weight that differs from the parameters file ``params`` it was made
    from.  ``net`` is the network that was exported (its structure names the pairs; weights the export dropped
    are skipped)."""
    import mxnet as mx
    import numpy as np
    want, got = mx.nd.load(params), mx.nd.load(prefix + "-0000.params")
    wrong, compared = [], 0
    for name, p in net._collect_params_with_prefix().items():
        key = next((k for k in ("arg:" + p.name, "aux:" + p.name) if k in got), None)
        if key is None or name not in want:
            continue  # a training-only weight the export dropped
        compared += 1
        if not np.array_equal(got[key].asnumpy(), want[name].asnumpy()):
            wrong.append(key.split(":", 1)[1])
    if not compared:
        raise RuntimeError("no weight of %s-0000.params could be paired with %s: not the same network" % (prefix,
                                                                                                       params))
    if wrong:
        raise RuntimeError("the export %s-0000.params differs from %s in %s: MXNet changed weights between loading "
                           "and export; export again with python train/export.py RUN_DIR"
                           % (prefix, params, ", ".join(wrong)))


def export_run(task, args, net, run_dir, metrics=None, params=None, onnx=False):
    """Export ``run_dir``'s network (``params``, default its best.params) with the task's meta.  Without that
    file nothing is exported (MissingFile names it): a network without its trained weights is not a model."""
    from recordio.devices import plain_layout
    from recordio.errors import MissingFile
    params = params or os.path.join(run_dir, "best.params")
    if not os.path.isfile(params):
        raise MissingFile("%s not found: no trained weights to export (a run's best.params, or --params FILE)"
                          % params)
    plain_layout(net.collect_params().values())  # a trained network's arrays may be in MKLDNN's own layout
    load_parameters(net, params)
    meta = task.export_meta(args, net)
    meta["metrics"] = metrics
    meta["params_file"] = os.path.basename(params)
    prefix = export_network(net, meta, os.path.join(run_dir, "model"))
    check_export(net, params, prefix)
    if onnx:
        export_onnx(prefix)
    return prefix


def load_parameters(net, params):
    """``net.load_parameters(params)`` whose failure (a file cut short or of another network) names the file."""
    import mxnet as mx
    from recordio.errors import BadModelFile, brief
    try:
        net.load_parameters(params, ctx=net.collect_params().list_ctx())
    except (mx.base.MXNetError, AssertionError, AttributeError, ValueError) as e:
        raise BadModelFile("%s cannot be loaded into %s: %s" % (params, net.name, brief(e)))


ENSEMBLE_SAME = ("task", "schema", "input", "crop")  # what the members of an ensemble must share


def export_ensemble(prefixes, out_prefix, onnx=False):
    """One export ``out_prefix`` whose outputs are the means of the exports ``prefixes``' outputs.

    The members must share task, schema, input, crop recipe and output names (a ValueError names the first
    difference); ``-meta.json`` is the first member's with ``ensemble`` listing every member's model, export
    and validation metrics (``metrics`` is dropped: no single epoch's validation describes the mean).
    """
    import mxnet as mx
    if len(prefixes) < 2:
        raise ValueError("an ensemble needs at least two exports, got %d" % len(prefixes))
    from recordio.schema import check_params_digest, read_export_meta
    metas = []
    for p in prefixes:
        metas.append(read_export_meta(p))
        check_params_digest(p, metas[-1])
    for p, m in zip(prefixes[1:], metas[1:]):
        for key in ENSEMBLE_SAME:
            if m.get(key) != metas[0].get(key):
                raise ValueError("%s and %s differ in %s: %r vs %r" % (prefixes[0], p, key, metas[0].get(key),
                                                                       m.get(key)))
        names = [o["name"] for o in m["outputs"]]
        if names != [o["name"] for o in metas[0]["outputs"]]:
            raise ValueError("%s and %s have different outputs: %s" % (prefixes[0], p, names))
    name = metas[0]["input"]["name"]
    data = mx.sym.var(name)
    members, params = [], {}
    for k, p in enumerate(prefixes):
        with open(p + "-symbol.json") as f:
            graph = json.load(f)
        for node in graph["nodes"]:
            if node["name"] != name:
                node["name"] = "m%d_%s" % (k, node["name"])
        members.append(mx.sym.load_json(json.dumps(graph))(**{name: data}))
        for key, value in mx.nd.load(p + "-0000.params").items():
            kind, param = key.split(":", 1)
            params["%s:m%d_%s" % (kind, k, param)] = value
    outputs = []
    for i in range(len(metas[0]["outputs"])):
        total = members[0][i]
        for m in members[1:]:
            total = total + m[i]
        outputs.append(total * (1.0 / len(members)))
    os.makedirs(os.path.dirname(os.path.abspath(out_prefix)), exist_ok=True)
    remove_stale_onnx(out_prefix)
    mx.sym.Group(outputs).save(out_prefix + "-symbol.json")
    mx.nd.save(out_prefix + "-0000.params", params)
    meta = dict(metas[0])
    meta.pop("metrics", None)
    meta.pop("onnx", None)
    meta["model"] = "ensemble of %d: %s" % (len(prefixes), ", ".join(m.get("model", "?") for m in metas))
    meta["ensemble"] = [{"export": os.path.abspath(p), "model": m.get("model"), "metrics": m.get("metrics")}
                        for p, m in zip(prefixes, metas)]
    write_export_meta(out_prefix, meta)
    if onnx:
        export_onnx(out_prefix)
    return out_prefix


def main(argv=None):
    ap = argparse.ArgumentParser(description="Export a run's network for deploy/, or several exports as one "
                                             "ensemble")
    ap.add_argument("run_dir", nargs="?")
    ap.add_argument("--params", help="default: RUN_DIR/best.params")
    ap.add_argument("--onnx", action="store_true", help="also write RUN_DIR/model.onnx (parity in model-meta.json)")
    ap.add_argument("--ensemble", nargs="+", metavar="PREFIX", help="exports (RUN/model) to average into one")
    ap.add_argument("--out", help="--ensemble: the new export's prefix, e.g. DIR/model")
    ap.add_argument("--onnx_of", metavar="PREFIX",
                    help="convert this existing export (e.g. deploy/models/course21/model) to PREFIX.onnx")
    a = ap.parse_args(argv)
    if a.onnx_of:
        if a.run_dir or a.ensemble:
            ap.error("--onnx_of takes one export prefix, not RUN_DIR or --ensemble")
        from recordio.schema import export_prefix
        return export_onnx(export_prefix(a.onnx_of))
    if a.ensemble:
        if a.run_dir or not a.out:
            ap.error("--ensemble takes export prefixes and --out, not RUN_DIR")
        try:
            return export_ensemble(a.ensemble, a.out, onnx=a.onnx)
        except (ValueError, FileNotFoundError) as e:
            raise SystemExit("error: %s" % e)
    if not a.run_dir:
        ap.error("RUN_DIR is required (or --ensemble ... --out)")
    import mxnet as mx
    from train.task import warm_up
    from train.tasks import make_task, read_run_args
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
    return export_run(task, args, net, a.run_dir, metrics, a.params, onnx=a.onnx)


if __name__ == "__main__":
    from recordio.cli import run
    run(main)
