"""Node groups of an exported BERT graph, named after the module that made them: `embeddings`, `layer.N`
(one encoder layer) and `head` (pooler and classifier). `keep_fp32` and the sensitivity analysis speak in
these groups; a name that is not a group is taken as a node name. Both exports are read: in the offline-fused
graph a layer's Attention node is named `Attention_N` by the fusion, so its group comes from its output's name,
which keeps the layer's path, and the EmbedLayerNormalization node is the embeddings.

    >>> group_of("/bert/encoder/layer.2/attention/self/query/MatMul")
    'layer.2'
"""

from __future__ import annotations

import re
from pathlib import Path

from edgebert.errors import RecipeError

_LAYER = re.compile(r"layer\.(\d+)/")


def group_of(node_name: str, outputs: tuple[str, ...] = ()) -> str:
    """The group of a node, from its name, else from its outputs' names (fused nodes)."""
    for name in (node_name, *outputs):
        if "embeddings" in name or name.startswith("EmbedLayerNormalization"):
            return "embeddings"
        match = _LAYER.search(name)
        if match:
            return f"layer.{match.group(1)}"
    return "head"


# fused operators that hold weights to quantize, and which input is the weight
_FUSED_WEIGHT = {"Attention": 1, "EmbedLayerNormalization": 2}


def node_groups(model: Path) -> dict[str, list[str]]:
    """Names of the nodes with weights to quantize (MatMul/Gemm by a weight, Gather from an embedding table, and in a
    fused graph Attention and EmbedLayerNormalization) in each group, groups in graph order. Shape arithmetic (Gather
    of a Shape) and activation x activation MatMuls (attention scores) are not counted: keeping them in FP32 would
    change nothing."""
    import onnx

    graph = onnx.load(str(model), load_external_data=False).graph
    weights = {t.name for t in graph.initializer}
    groups: dict[str, list[str]] = {}
    for node in graph.node:
        weighted = (
            (node.op_type in ("MatMul", "Gemm") and node.input[1] in weights)
            or (node.op_type == "Gather" and node.input[0] in weights)
            or (node.op_type in _FUSED_WEIGHT and node.input[_FUSED_WEIGHT[node.op_type]] in weights)
        )
        if weighted:
            groups.setdefault(group_of(node.name, tuple(node.output)), []).append(node.name)
    return groups


def activation_matmuls(model: Path) -> list[str]:
    """MatMuls of two activations (attention scores and context), which have no weight to quantize."""
    import onnx

    graph = onnx.load(str(model), load_external_data=False).graph
    weights = {t.name for t in graph.initializer}
    return [n.name for n in graph.node if n.op_type == "MatMul" and n.input[1] not in weights]


def resolve(model: Path, keep: list[str]) -> list[str]:
    """Node names for `keep` (groups or node names); an unknown entry is an error that lists the groups."""
    if not keep:
        return []
    import onnx

    names = {n.name for n in onnx.load(str(model), load_external_data=False).graph.node}
    groups = node_groups(model)
    nodes: list[str] = []
    for entry in keep:
        if entry in groups:
            nodes += groups[entry]
        elif entry in names:
            nodes.append(entry)
        else:
            raise RecipeError(
                f"quantize.keep_fp32: {entry!r} is neither a node group ({', '.join(groups)}) "
                f"nor a node of {model.name}"
            )
    return nodes
