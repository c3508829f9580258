"""The mobile form of an exported BERT: fixed input shapes and only operators NNAPI and CoreML take, so a phone's
accelerator can run the encoder as one partition instead of bouncing between it and the CPU.

ORT's usability check on the plain export (3-layer SST-2 student, static QDQ) found NNAPI could take 93% of
nodes but in 17 partitions, blocked by Erf (GELU), LayerNormalization, and the attention-mask arithmetic
(Equal, Where, Expand, Shape). This module rewrites exactly those, by hand because no library does it for an
already exported graph: ORT's tools fix shapes (`make_dim_param_fixed`) and fold constants, but do not change
operators.
- the additive attention mask becomes (1 - mask) * lowest_float, unsqueezed to [batch, 1, 1, seq]: the same
  values transformers' Where builds, from Cast, Sub, Mul and Unsqueeze;
- LayerNormalization becomes ReduceMean, Sub, Mul, Sqrt, Div, Add;
- Erf(u) inside GELU becomes tanh(u * (2/sqrt(pi) + 0.1009 u^2)), the tanh approximation of GELU (max error of
  GELU about 1e-3; verified against the original on real sentences by the caller).
Input shapes are fixed to [batch, seq] and constants folded (ORT's BASIC level), so shape arithmetic vanishes.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

ERF_A = 2 / math.sqrt(math.pi)
ERF_B = math.sqrt(2 / math.pi) * 0.044715 * 2 * math.sqrt(2)


def mobile_form(source: Path, target: Path, seq: int, batch: int = 1) -> dict:
    """Write the mobile form of `source` to `target`; returns what was rewritten."""
    import onnx
    from onnxruntime.tools.onnx_model_utils import fix_output_shapes, make_dim_param_fixed, optimize_model

    model = onnx.load(str(source))
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    counts = {
        "attention_mask": _rewrite_mask(model.graph),
        "layer_norm": _decompose_layer_norm(model.graph, opset),
        "erf": _replace_erf(model.graph),
    }
    _drop_dead_nodes(model.graph)
    dims = {d.dim_param for i in model.graph.input for d in i.type.tensor_type.shape.dim if d.dim_param}
    for param in dims:
        make_dim_param_fixed(model.graph, param, batch if "batch" in param else seq)
    fix_output_shapes(model)
    unfolded = target.with_suffix(".unfolded.onnx")
    onnx.save(model, str(unfolded))
    optimize_model(unfolded, target)  # BASIC: constant folding, so shape arithmetic on fixed shapes disappears
    unfolded.unlink()
    return {"batch": batch, "seq": seq, "rewritten": counts}


def _nodes_consuming(graph, tensor: str):
    return [n for n in graph.node if tensor in n.input]


def _rewrite_mask(graph) -> int:
    import onnx
    from onnx import TensorProto, helper

    producers = {o: n for n in graph.node for o in n.output}
    masks = set()
    for node in graph.node:
        if node.op_type == "Add" and "attention/self" in node.name:
            for t in node.input:
                p = producers.get(t)
                # built once, outside the layers, from the inputs: the mask (an Identity is a shared bias)
                if p is not None and "layer." not in p.name and p.op_type not in ("Identity", "Constant"):
                    masks.add(t)
    if len(masks) != 1 or "attention_mask" not in {i.name for i in graph.input}:
        return 0
    (mask,) = masks
    lowest = float(np.finfo(np.float32).min)
    graph.initializer.extend(
        [
            onnx.numpy_helper.from_array(np.array(1.0, dtype=np.float32), "edgebert_mask_one"),
            onnx.numpy_helper.from_array(np.array(lowest, dtype=np.float32), "edgebert_mask_lowest"),
            onnx.numpy_helper.from_array(np.array([1, 2], dtype=np.int64), "edgebert_mask_axes"),
        ]
    )
    new = [
        helper.make_node("Cast", ["attention_mask"], ["edgebert_mask_f"], to=TensorProto.FLOAT, name="mask/Cast"),
        helper.make_node("Sub", ["edgebert_mask_one", "edgebert_mask_f"], ["edgebert_mask_inv"], name="mask/Sub"),
        helper.make_node("Mul", ["edgebert_mask_inv", "edgebert_mask_lowest"], ["edgebert_mask_add"], name="mask/Mul"),
        helper.make_node("Unsqueeze", ["edgebert_mask_add", "edgebert_mask_axes"], ["edgebert_mask"], name="mask/Uns"),
    ]
    users = _nodes_consuming(graph, mask)
    for node in users:
        for i, t in enumerate(node.input):
            if t == mask:
                node.input[i] = "edgebert_mask"
    first = min(i for i, n in enumerate(graph.node) if n in users)
    for k, node in enumerate(new):
        graph.node.insert(first + k, node)
    return len(users)


def _decompose_layer_norm(graph, opset: int) -> int:
    import onnx
    from onnx import helper

    count = 0
    for index in range(len(graph.node) - 1, -1, -1):
        node = graph.node[index]
        if node.op_type != "LayerNormalization":
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        eps, axis = attrs.get("epsilon", 1e-5), attrs.get("axis", -1)
        x, scale, bias = node.input[0], node.input[1], node.input[2]
        p = f"{node.name}/edgebert"
        graph.initializer.append(onnx.numpy_helper.from_array(np.array(eps, dtype=np.float32), f"{p}/eps"))

        new = [
            _reduce_mean(graph, opset, axis, x, f"{p}/mean", f"{p}/ReduceMean"),
            helper.make_node("Sub", [x, f"{p}/mean"], [f"{p}/d"], name=f"{p}/Sub"),
            helper.make_node("Mul", [f"{p}/d", f"{p}/d"], [f"{p}/d2"], name=f"{p}/Square"),
            _reduce_mean(graph, opset, axis, f"{p}/d2", f"{p}/var", f"{p}/ReduceMeanVar"),
            helper.make_node("Add", [f"{p}/var", f"{p}/eps"], [f"{p}/vare"], name=f"{p}/AddEps"),
            helper.make_node("Sqrt", [f"{p}/vare"], [f"{p}/std"], name=f"{p}/Sqrt"),
            helper.make_node("Div", [f"{p}/d", f"{p}/std"], [f"{p}/norm"], name=f"{p}/Div"),
            helper.make_node("Mul", [f"{p}/norm", scale], [f"{p}/scaled"], name=f"{p}/Mul"),
            helper.make_node("Add", [f"{p}/scaled", bias], [node.output[0]], name=f"{p}/Add"),
        ]
        del graph.node[index]
        for k, n in enumerate(new):
            graph.node.insert(index + k, n)
        count += 1
    return count


def _reduce_mean(graph, opset: int, axis: int, src: str, dst: str, name: str):
    import onnx
    from onnx import helper

    if opset >= 18:  # axes became an input in opset 18
        graph.initializer.append(onnx.numpy_helper.from_array(np.array([axis], dtype=np.int64), f"{name}/axes"))
        return helper.make_node("ReduceMean", [src, f"{name}/axes"], [dst], keepdims=1, name=name)
    return helper.make_node("ReduceMean", [src], [dst], axes=[axis], keepdims=1, name=name)


def _replace_erf(graph) -> int:
    import onnx
    from onnx import helper

    graph.initializer.extend(
        [
            onnx.numpy_helper.from_array(np.array(ERF_A, dtype=np.float32), "edgebert_erf_a"),
            onnx.numpy_helper.from_array(np.array(ERF_B, dtype=np.float32), "edgebert_erf_b"),
        ]
    )
    count = 0
    for index in range(len(graph.node) - 1, -1, -1):
        node = graph.node[index]
        if node.op_type != "Erf":
            continue
        u, p = node.input[0], f"{node.name}/edgebert"
        new = [
            helper.make_node("Mul", [u, u], [f"{p}/u2"], name=f"{p}/Square"),
            helper.make_node("Mul", [f"{p}/u2", "edgebert_erf_b"], [f"{p}/bu2"], name=f"{p}/MulB"),
            helper.make_node("Add", [f"{p}/bu2", "edgebert_erf_a"], [f"{p}/poly"], name=f"{p}/AddA"),
            helper.make_node("Mul", [u, f"{p}/poly"], [f"{p}/z"], name=f"{p}/MulU"),
            helper.make_node("Tanh", [f"{p}/z"], [node.output[0]], name=f"{p}/Tanh"),
        ]
        del graph.node[index]
        for k, n in enumerate(new):
            graph.node.insert(index + k, n)
        count += 1
    return count


def _drop_dead_nodes(graph) -> None:
    outputs = {o.name for o in graph.output}
    while True:
        used = {t for n in graph.node for t in n.input} | outputs
        dead = [i for i, n in enumerate(graph.node) if not any(o in used for o in n.output)]
        if not dead:
            break
        for i in reversed(dead):
            del graph.node[i]
    used = {t for n in graph.node for t in n.input}
    keep = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(keep)
