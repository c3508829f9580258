"""Physically remove attention heads and FFN neurons from a BERT-family model, and count what is left.

Heads go through transformers' own `prune_heads`, so the saved config's `pruned_heads` rebuilds the smaller
attention on `from_pretrained`. FFN neurons are removed by slicing `intermediate.dense` (rows) and
`output.dense` (columns). Every layer keeps the same FFN width: a BERT config has one `intermediate_size`, and
per-layer widths would need custom modelling code that neither `from_pretrained` without `trust_remote_code`
nor optimum's exporter accept. Which neurons each layer keeps is still chosen by that layer's scores.
It does not score or train.

    >>> plan = PrunePlan(heads={0: [1, 3]}, neurons={0: [0, 2], 1: [1, 2]})   # keep neurons, per layer
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from edgebert.errors import RecipeError


@dataclass
class PrunePlan:
    """What to remove: `heads[layer]` = head indices to prune (numbering of the original model, as in
    `config.pruned_heads`); `neurons[layer]` = FFN neuron positions to keep (in the current model)."""

    heads: dict[int, list[int]] = field(default_factory=dict)
    neurons: dict[int, list[int]] = field(default_factory=dict)


def encoder_layers(model) -> list:
    """The transformer blocks of a BERT-like model (BERT, RoBERTa, ELECTRA, XLM-R…), or a RecipeError."""
    base = getattr(model, "base_model", model)
    layers = getattr(getattr(base, "encoder", None), "layer", None)
    if layers is None or not hasattr(base, "_prune_heads"):
        raise RecipeError(
            f"prune: model type {model.config.model_type!r} has no BERT-style encoder with prunable heads "
            "(transformers' prune_heads); use a BERT-family student or remove the prune section"
        )
    for layer in layers:
        if not all(hasattr(layer, a) for a in ("attention", "intermediate", "output")):
            raise RecipeError(f"prune: {model.config.model_type!r} layers lack attention/intermediate/output blocks")
    return list(layers)


def kept_heads(model) -> list[list[int]]:
    """Original head indices still present in each layer, in the order the weights hold them."""
    heads = model.config.num_attention_heads
    pruned = model.config.pruned_heads or {}
    return [[h for h in range(heads) if h not in set(pruned.get(i, []))] for i in range(model.config.num_hidden_layers)]


def ffn_width(model) -> list[int]:
    return [layer.intermediate.dense.out_features for layer in encoder_layers(model)]


def apply_plan(model, plan: PrunePlan) -> None:
    """Remove in place the heads and neurons the plan names; updates `config` so `save_pretrained` records it."""
    layers = encoder_layers(model)
    present = kept_heads(model)
    for i, heads in plan.heads.items():
        if len(set(present[i]) - set(heads)) < 1:
            raise RecipeError(f"prune would remove every head of layer {i}; keep at least one per layer")
    heads = {i: sorted(h) for i, h in plan.heads.items() if h}
    if heads:
        model.prune_heads(heads)
    widths = {len(keep) for keep in plan.neurons.values()}
    if plan.neurons:
        if len(widths) != 1 or set(plan.neurons) != set(range(len(layers))):
            raise ValueError("FFN pruning keeps the same number of neurons in every layer")
        for i, keep in plan.neurons.items():
            _slice_ffn(layers[i], torch.as_tensor(sorted(keep), dtype=torch.long))
        model.config.intermediate_size = widths.pop()


def _slice_ffn(layer, keep: torch.Tensor) -> None:
    up, down = layer.intermediate.dense, layer.output.dense
    new_up = torch.nn.Linear(up.in_features, len(keep), bias=up.bias is not None)
    new_down = torch.nn.Linear(len(keep), down.out_features, bias=down.bias is not None)
    with torch.no_grad():
        new_up.weight.copy_(up.weight[keep])
        new_down.weight.copy_(down.weight[:, keep])
        if up.bias is not None:
            new_up.bias.copy_(up.bias[keep])
        if down.bias is not None:
            new_down.bias.copy_(down.bias)
    layer.intermediate.dense, layer.output.dense = new_up, new_down


def shape_summary(model) -> list[dict]:
    """Per layer: heads and FFN neurons kept, and parameters in the block."""
    return [
        {
            "layer": i,
            "heads": heads,
            "kept_heads": len(heads),
            "ffn_neurons": layer.intermediate.dense.out_features,
            "parameters": sum(p.numel() for p in layer.parameters()),
        }
        for i, (layer, heads) in enumerate(zip(encoder_layers(model), kept_heads(model), strict=True))
    ]


def encoder_flops(heads: list[int], ffn: list[int], hidden: int, head_size: int, seq: int) -> float:
    """Multiply-adds x2 of the encoder blocks for one sequence of `seq` tokens (embeddings and head excluded).

    >>> round(encoder_flops([12], [1536], 384, 32, 128) / 1e9, 3)   # one MiniLM block at seq 128
    0.478
    """
    total = 0
    for h, f in zip(heads, ffn, strict=True):
        inner = h * head_size
        total += seq * hidden * inner * 4  # Q, K, V and the output projection
        total += seq * seq * inner * 2  # scores and the weighted sum
        total += seq * hidden * f * 2  # FFN up and down
    return 2.0 * total
