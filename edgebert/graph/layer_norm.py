"""SkipLayerNormalization split back into plain operators: Sum (input + skip + bias), then ONNX's own
LayerNormalization. Same arithmetic, other kernels.

Why: ONNX Runtime 1.32's CPU SkipLayerNormalization kernel is slow on some hosts, and its transformer optimiser
puts one after every attention and FFN block. On a 2-core Intel Xeon with AVX-512 VNNI and AMX (2026-11-27, one
thread, 300 calls each, median, a training run sharing the cores) one SkipLayerNormalization of 128 x 384 took
327 us, the same Add + LayerNormalization 46 us, and LayerNormalization alone 35 us. In a 3-layer 384-wide INT8
student (the fused export, dynamic INT8, 15 paired rounds, idle machine) this split was 1.34x faster than the
fused graph at seq 128 and 1.58x at seq 32 at one thread, 1.24x and 1.81x at two; the elementwise form below 1.25x,
1.40x, 1.08x and 1.24x (docs/decisions.md).
Sum, not Add: ONNX Runtime's load-time SkipLayerNormFusion turns Add (+ Add) + LayerNormalization back into the
slow node, and it only looks for Add (a test checks the loaded graph). One Sum of three inputs timed the same as two
Adds (28 us for 128 x 384 at one and two threads).

A plain LayerNormalization (an unfused export's, or the embedding norm of a fused graph whose embeddings stay
unfused for a 4-bit table) is kept; the Add feeding it becomes a Sum, which ORT then cannot fuse with it into the
slow node at load. Before opset 17 ONNX has no LayerNormalization, so there a norm becomes elementwise operators:
ReduceMean, Sub, Mul, Sqrt, Div (the square as Mul(d, d), which ORT's LayerNormFusion leaves alone).
Whether any of this is faster is a property of the host and the ORT build, so it is an `auto` candidate
(`QuantScheme.layer_norm: decomposed`), timed against the fused form, never a blanket rewrite. Written by hand:
ONNX Runtime's transformer optimiser only fuses these patterns, and I found no tool that splits them back.

    >>> decompose_layer_norms(Path("model.int8.onnx"), Path("model.int8.ln.onnx"))
    6
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

_NORMS = ("LayerNormalization", "SkipLayerNormalization")
_DEFAULT_EPSILON = {"LayerNormalization": 1e-5, "SkipLayerNormalization": 1e-12}  # the operators' own defaults


def decompose_layer_norms(source: Path, target: Path) -> int:
    """Write `source` with its last-axis layer norms split (see above) to `target`; returns how many it rewrote.
    A node whose mean, inverse deviation or sum output is read elsewhere is left as it is."""
    import onnx

    model = onnx.load(str(source))
    graph = model.graph
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    read = {name for node in graph.node for name in node.input} | {o.name for o in graph.output}
    producer = {name: node for node in graph.node for name in node.output}
    nodes, count = [], 0
    for node in graph.node:
        axis = next((a.i for a in node.attribute if a.name == "axis"), -1)  # SkipLayerNormalization has none: last
        if node.op_type not in _NORMS or any(o in read for o in node.output[1:] if o) or axis != -1:
            nodes.append(node)
            continue
        if node.op_type == "LayerNormalization" and opset >= 17:  # its kernel is fast: only keep ORT from fusing it
            add = producer.get(node.input[0])
            if add is not None and add.op_type == "Add":
                add.op_type = "Sum"  # the same arithmetic (both broadcast), in a node SkipLayerNormFusion ignores
                count += 1
            nodes.append(node)
            continue
        prefix = f"{node.name or node.output[0]}/decomposed"
        split = _split if node.op_type == "SkipLayerNormalization" and opset >= 17 else _elementwise
        added, initializers = split(node, prefix, opset)
        for i, new in enumerate(added):
            new.name = f"{prefix}/{i}_{new.op_type}"
        nodes.extend(added)
        graph.initializer.extend(initializers)
        count += 1
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.save(model, str(target))
    return count


def _split(node, p: str, opset: int) -> tuple[list, list]:
    """Sum(x, skip, bias) then LayerNormalization: ORT's SkipLayerNormFusion only looks for Add."""
    from onnx import helper

    eps = next((a.f for a in node.attribute if a.name == "epsilon"), _DEFAULT_EPSILON[node.op_type])
    x, skip, gamma = node.input[:3]
    beta = node.input[3] if len(node.input) > 3 else ""
    bias = node.input[4] if len(node.input) > 4 else ""
    norm = [f"{p}/sum", gamma, *([beta] if beta else [])]
    return [
        helper.make_node("Sum", [x, skip, *([bias] if bias else [])], [f"{p}/sum"]),
        helper.make_node("LayerNormalization", norm, [node.output[0]], axis=-1, epsilon=eps),
    ], []


def _elementwise(node, p: str, opset: int) -> tuple[list, list]:
    from onnx import helper, numpy_helper

    eps = next((a.f for a in node.attribute if a.name == "epsilon"), _DEFAULT_EPSILON[node.op_type])
    inits = [numpy_helper.from_array(np.array(eps, np.float32), f"{p}/epsilon")]
    nodes = []
    if node.op_type == "SkipLayerNormalization":  # input + skip (+ bias), then the norm
        x, skip, gamma, beta = node.input[:4]
        bias = node.input[4] if len(node.input) > 4 else ""
        nodes.append(helper.make_node("Add", [x, skip], [f"{p}/sum"]))
        x = f"{p}/sum"
        if bias:
            nodes.append(helper.make_node("Add", [x, bias], [f"{p}/sum_bias"]))
            x = f"{p}/sum_bias"
    else:
        x, gamma = node.input[:2]
        beta = node.input[2] if len(node.input) > 2 else ""
    if opset >= 18:  # ReduceMean's axes became an input
        inits.append(numpy_helper.from_array(np.array([-1], np.int64), f"{p}/axes"))
        axes, attrs = [f"{p}/axes"], {}
    else:
        axes, attrs = [], {"axes": [-1]}
    scaled = node.output[0] if not beta else f"{p}/scaled"
    nodes += [
        helper.make_node("ReduceMean", [x, *axes], [f"{p}/mean"], **attrs),
        helper.make_node("Sub", [x, f"{p}/mean"], [f"{p}/centred"]),
        helper.make_node("Mul", [f"{p}/centred", f"{p}/centred"], [f"{p}/squared"]),
        helper.make_node("ReduceMean", [f"{p}/squared", *axes], [f"{p}/variance"], **attrs),
        helper.make_node("Add", [f"{p}/variance", f"{p}/epsilon"], [f"{p}/variance_eps"]),
        helper.make_node("Sqrt", [f"{p}/variance_eps"], [f"{p}/deviation"]),
        helper.make_node("Div", [f"{p}/centred", f"{p}/deviation"], [f"{p}/normalised"]),
        helper.make_node("Mul", [f"{p}/normalised", gamma], [scaled]),
    ]
    if beta:
        nodes.append(helper.make_node("Add", [scaled, beta], [node.output[0]]))
    return nodes, inits
