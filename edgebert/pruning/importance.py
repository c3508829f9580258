"""Importance of attention heads and FFN neurons, from gradients on training batches.

- Heads (Michel et al., 2019, "Are Sixteen Heads Really Better than One?"): a mask value ξ_h = 1 multiplies
  each head's output; importance is |∂L/∂ξ_h| summed over batches. The mask is applied by a forward hook on
  each self-attention block's output (the context vectors), which equals masking the attention probabilities
  and works for any number of heads per layer and any attention kernel.
- FFN neurons (first-order Taylor, Molchanov et al., 2019): |w · ∂L/∂w| summed over the neuron's weights in
  the up projection (row + bias) and the down projection (column), per batch, summed over batches.
Scores are normalised per layer by their L2 norm, as Michel et al. do for heads, so layers compare on one scale.
It does not decide what to remove (selection.py) or change the model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch

from edgebert.pruning.surgery import encoder_layers


@dataclass
class Importance:
    heads: list[list[float]]  # per layer, per head present (in the order the weights hold them)
    neurons: list[list[float]]  # per layer, per FFN neuron present
    batches: int

    def as_dict(self) -> dict:
        return {"heads": self.heads, "neurons": self.neurons, "batches": self.batches, "normalised": "L2 per layer"}


def score(model, batches: Iterable[dict], loss_fn: Callable[[object, dict], torch.Tensor]) -> Importance:
    """Accumulate head and neuron importance over `batches`; `loss_fn(model, batch)` returns the loss.

    The model's weights are not changed (gradients are cleared afterwards).
    """
    layers = encoder_layers(model)
    masks = [torch.ones(layer.attention.self.num_attention_heads, requires_grad=True) for layer in layers]
    hooks = [layer.attention.self.register_forward_hook(_mask_heads(m)) for layer, m in zip(layers, masks, strict=True)]
    head_scores = [torch.zeros_like(m) for m in masks]
    neuron_scores = [torch.zeros(layer.intermediate.dense.out_features) for layer in layers]
    was_training = model.training
    model.eval()  # dropout off: scores should not depend on the dropout draw
    n = 0
    try:
        for batch in batches:
            model.zero_grad(set_to_none=True)
            for m in masks:
                m.grad = None
            loss_fn(model, batch).backward()
            with torch.no_grad():
                for i, layer in enumerate(layers):
                    head_scores[i] += masks[i].grad.abs()
                    neuron_scores[i] += _taylor(layer)
            n += 1
    finally:
        for h in hooks:
            h.remove()
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    return Importance([_normalise(s) for s in head_scores], [_normalise(s) for s in neuron_scores], n)


def _mask_heads(mask: torch.Tensor):
    def hook(module, args, output):
        context = output[0] if isinstance(output, tuple) else output
        b, s, width = context.shape
        heads = mask.numel()
        masked = (context.view(b, s, heads, width // heads) * mask.view(1, 1, heads, 1)).view(b, s, width)
        return (masked, *output[1:]) if isinstance(output, tuple) else masked

    return hook


def _taylor(layer) -> torch.Tensor:
    up, down = layer.intermediate.dense, layer.output.dense
    s = (up.weight * up.weight.grad).abs().sum(1) + (down.weight * down.weight.grad).abs().sum(0)
    if up.bias is not None:
        s = s + (up.bias * up.bias.grad).abs()
    return s


def _normalise(s: torch.Tensor) -> list[float]:
    norm = s.norm()
    return (s / norm if norm > 0 else s).tolist()
