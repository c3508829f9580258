"""The last layer computes only the token the head reads. A BERT classifier's head reads one row of the last layer,
[CLS] (the pooler's Gather at position 0), yet the exported graph runs the last layer's attention output
projection, feed-forward block and layer norms for every token. Everything after the last attention acts on each
token alone, so this inserts a Gather of position 0 where that per-token part begins (on the attention output and
on the residual) and the rest of the graph runs on one row. The logits are the same (float rounding aside); a
dynamically quantized graph then computes its activation scales of that block from the [CLS] row alone.

On the 3-layer SST-2 and TREC students (5 heads, FFN 512, dynamic INT8; 2-core Xeon with AVX-512 VNNI, 2026-11-27,
15 paired rounds against the same student's file without it) this took 0.84-0.94x the time on real test
sentences at batch 1 and 0.81-0.92x at seq 128, at one and two threads; no SST-2 test prediction and 1 of 500
TREC ones changed (docs/decisions.md).

It applies only where the graph says so: the last hidden state is read by a Gather of position 0 on the sequence
axis and by nothing else (no graph output, no pooling over tokens), so taggers and sentence encoders are left
as they are. It does not look inside attention: the last layer's queries, keys and values still cover every token
(the keys and values must; a fused Attention node computes every query). Written by hand: ONNX Runtime's
optimisers have no such pass, and the rewrite is small. The caller verifies the result against PyTorch.

    >>> keep_first_token(Path("model.fused.onnx"), Path("model.fused.onnx"))  # out-projection, 2 norms, FFN
    6
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# operators that act on each token alone when their other inputs are constants of rank <= 1 (a bias, a scale)
_PER_TOKEN = {
    "Add", "Sub", "Mul", "Div", "Sum", "Pow", "Sqrt", "Erf", "Tanh", "Relu", "Sigmoid", "Cast", "Identity",
    "LayerNormalization", "SkipLayerNormalization", "SimplifiedLayerNormalization", "SkipSimplifiedLayerNormalization",
    "BiasGelu", "Gelu", "FastGelu", "QuickGelu",
}  # fmt: skip
_MATMUL = {"MatMul"}  # per token when the second input is a constant [in, out] matrix
_INDEX = "first_token/index"


def keep_first_token(source: Path, target: Path) -> int:
    """Write `source` with its last layer's per-token part on position 0 alone to `target` (may be `source`);
    returns how many nodes now see one row. 0: the graph reads more than position 0 of its last layer (or has no
    such part), and nothing is written."""
    import onnx

    model = onnx.load(str(source))
    count = first_token_only(model.graph)
    if count:
        onnx.save(model, str(target))
    return count


def first_token_only(graph) -> int:
    """The rewrite of keep_first_token on a GraphProto, in place; returns the nodes that now see one row."""
    from onnx import helper, numpy_helper

    if any(t.name == _INDEX for t in graph.initializer):  # rewritten already
        return 0
    constants = _constant_ranks(graph)
    outputs = {o.name for o in graph.output}
    readers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)
    head = _head_gather(graph, readers, outputs)
    if head is None:
        return 0
    region: set[int] = set()  # ids of nodes in the per-token part, found from the head backwards
    for node in reversed(graph.node):
        read_by = [r for o in node.output if o for r in readers.get(o, [])]
        if (
            read_by
            and all(r is head or id(r) in region for r in read_by)
            and not any(o in outputs for o in node.output)
            and _per_token(node, constants)
        ):
            region.add(id(node))
    inside = {o for n in graph.node if id(n) in region for o in n.output}
    edges = {
        name
        for n in graph.node
        if id(n) in region
        for name in n.input
        if name and name not in constants and name not in inside
    }
    if not region or not edges:
        return 0
    graph.initializer.append(numpy_helper.from_array(np.array([0], np.int64), _INDEX))
    gathers = {name: helper.make_node("Gather", [name, _INDEX], [f"{name}/first_token"], axis=1) for name in edges}
    for name, gather in gathers.items():
        gather.name = f"first_token/{name}"
    for node in graph.node:
        if id(node) in region:
            for i, name in enumerate(node.input):
                if name in gathers:
                    node.input[i] = gathers[name].output[0]
    nodes, placed = [], set()
    for name in edges & {i.name for i in graph.input}:  # a graph input read per token (not seen in BERT exports)
        nodes.append(gathers[name])
        placed.add(name)
    for node in graph.node:
        nodes.append(node)
        for name in node.output:
            if name in gathers and name not in placed:
                nodes.append(gathers[name])
                placed.add(name)
    del graph.node[:]
    graph.node.extend(nodes)
    return len(region)


def _head_gather(graph, readers: dict, outputs: set):
    """The Gather reading position 0 of axis 1 of a tensor nothing else reads, the last one in the graph; None if
    there is none."""
    from onnx import numpy_helper

    values = {t.name: t for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            values[node.output[0]] = node.attribute[0].t
    for node in reversed(graph.node):
        if node.op_type != "Gather" or node.input[1] not in values:
            continue
        axis = next((a.i for a in node.attribute if a.name == "axis"), 0)
        index = numpy_helper.to_array(values[node.input[1]])
        source = node.input[0]
        if axis == 1 and index.size == 1 and int(index.reshape(-1)[0]) == 0 and index.ndim <= 1:
            if [r is node for r in readers.get(source, [])] == [True] and source not in outputs:
                return node
    return None


def _per_token(node, constants: dict) -> bool:
    """True when `node` acts on each token alone: a per-token operator over one or more computed inputs and
    constants of rank <= 1, or a MatMul by a constant matrix."""
    computed = [n for n in node.input if n and n not in constants]
    if not computed:
        return False
    if node.op_type in _MATMUL:
        return len(node.input) == 2 and node.input[0] in computed and constants.get(node.input[1]) == 2
    if node.op_type not in _PER_TOKEN:
        return False
    if any(a.name == "axis" and a.i != -1 for a in node.attribute):  # a norm over another axis
        return False
    return all(rank <= 1 for n in node.input if n in constants for rank in [constants[n]])


def _constant_ranks(graph) -> dict[str, int]:
    """Rank of every initializer, Constant node output and Identity of one (the torch exporter shares equal
    weights through Identity nodes)."""
    ranks = {t.name: len(t.dims) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute:
            attr = node.attribute[0]
            scalar = attr.name in ("value_float", "value_int", "value_string")
            ranks[node.output[0]] = len(attr.t.dims) if attr.name == "value" else 0 if scalar else 1
        elif node.op_type == "Identity" and node.input[0] in ranks:
            ranks[node.output[0]] = ranks[node.input[0]]
    return ranks
