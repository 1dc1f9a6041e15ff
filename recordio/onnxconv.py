"""MXNet symbol + parameters -> ONNX (``to_onnx``): MXNet's converter at ``ONNX_OPSET`` and the repairs of what it
gets wrong (``train/export.py``'s docstring lists them).  Used by ``train/export.py`` for exports and by
``deploy.mtcnn`` to run MTCNN's networks on ONNX Runtime."""

ONNX_OPSET = 13  # the newest opset MXNet 1.9.1's converters write every operator of the zoo for
IMAGE_OPS = ("Conv", "ConvTranspose", "BatchNormalization", "MaxPool", "AveragePool")  # (N, C, H, W) outputs


def relative_difference(a, b):
    """The largest difference of ``a`` from ``b``, relative to ``b``'s scale (its largest magnitude): how an ONNX
    model's outputs are checked against MXNet's."""
    import numpy as np
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12)) if b.size else 0.0


def to_onnx(sym, params, shape, dynamic_shape):
    """The ONNX model of ``sym`` with ``params`` (``mxnet.onnx``'s ``load_module`` pair) for float32 input
    ``shape``, its dimensions that are None in ``dynamic_shape`` left free; repaired (``repair``)."""
    import onnx
    from mxnet.onnx.mx2onnx._export_onnx import MXNetGraph
    from onnx import helper
    graph = MXNetGraph().create_onnx_graph_proto(sym, params, [tuple(shape)], [onnx.TensorProto.FLOAT],
                                                 opset_version=ONNX_OPSET, dynamic=True,
                                                 dynamic_input_shapes=[tuple(dynamic_shape)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", ONNX_OPSET)])
    repair(model)
    return model


def repair(model):
    """The repairs ``train/export.py``'s docstring lists, in place."""
    from onnx import helper, numpy_helper, shape_inference
    used = {name for node in model.graph.node for name in node.input}
    kept = [i for i in model.graph.initializer if i.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    weights = {i.name: i for i in model.graph.initializer}  # the graph's own copies (extend copied them)
    inputs = [i for i in model.graph.input if i.name not in weights]
    del model.graph.input[:]
    model.graph.input.extend(inputs)
    made_by = {out: node.op_type for node in model.graph.node for out in node.output}
    ranks = None
    for k, node in enumerate(model.graph.node):
        if not node.name:
            node.name = "%s_%d" % (node.op_type, k)
        if node.op_type == "AveragePool":
            attrs = {a.name: a for a in node.attribute}
            pads = helper.get_attribute_value(attrs["pads"]) if "pads" in attrs else []
            if "count_include_pad" in attrs and not any(pads):
                attrs["count_include_pad"].i = 0
        if node.op_type == "PRelu" and node.input[1] in weights:
            if ranks is None:
                inferred = shape_inference.infer_shapes(model).graph
                ranks = {v.name: len(v.type.tensor_type.shape.dim)
                         for v in list(inferred.value_info) + list(inferred.input)}
            slope = numpy_helper.to_array(weights[node.input[1]])
            images = ranks.get(node.input[0]) == 4 or made_by.get(node.input[0]) in IMAGE_OPS
            if images and slope.ndim == 1 and slope.size > 1:  # (C,) would broadcast over the width
                weights[node.input[1]].CopyFrom(numpy_helper.from_array(slope.reshape(-1, 1, 1), node.input[1]))
