"""Quantization-aware training for ONNX Runtime's dynamic INT8: PyTorch forward passes that round weights and
activations the way the shipped graph will, so a short recovery fit can learn around the rounding.

What ORT's dynamic quantizer does, and what `simulated` reproduces (onnxruntime/quantization, ORT 1.2x-1.3x):
- the embedding tables (Gather, or EmbedLayerNormalization when fused) are stored as uint8, asymmetric, per
  tensor, and so are the fused embeddings' LayerNorm gamma and beta;
- every MatMul/Gemm by a weight (nn.Linear here) becomes MatMulInteger: its input is quantized per call by
  DynamicQuantizeLinear (uint8, asymmetric, range = [min(0, min x), max(0, max x)] over the tensor), its
  weight to int8, symmetric, scale max|w| / 127, per tensor or per output column;
- in the offline-fused graph Q, K and V are one packed weight in QAttention, so per tensor they share one scale.
Rounding uses the straight-through estimator: the forward pass sees rounded values, the gradient passes as if
none were rounded. Scales are not learnt: dynamic INT8 computes them from the data and the weights, so a
learnt scale would not survive into the graph. The activation range is taken per sentence, as ORT takes it at
batch 1.

Written here rather than with torch.ao or neural-compressor: both simulate static quantization (observers,
calibrated activation ranges, QDQ export), not ORT's per-call activation ranges and its packed-QKV scale, and
the model that ships is rebuilt from these weights by the same ORT quantizer as every other candidate.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn


def _round(x: torch.Tensor) -> torch.Tensor:
    return x + (torch.round(x) - x).detach()


def int8_weight(w: torch.Tensor, absmax: torch.Tensor, levels: int = 127) -> torch.Tensor:
    """`w` rounded to integers in [-levels, levels] with scale absmax / levels (`absmax` per tensor, or per row:
    [out, 1]): 127 for int8, 64 for ORT's reduce_range."""
    scale = (absmax.detach() / levels).clamp_min(1e-12)
    return _round(w / scale).clamp(-levels, levels) * scale


def uint8_dynamic(x: torch.Tensor, per_row: bool = True) -> torch.Tensor:
    """`x` through DynamicQuantizeLinear: uint8, range including 0, per tensor; `per_row` takes the range of each
    item of the batch separately (ORT at batch 1)."""
    dims = tuple(range(1, x.dim())) if per_row and x.dim() > 1 else tuple(range(x.dim()))
    lo = x.detach().amin(dim=dims, keepdim=True).clamp_max(0)
    hi = x.detach().amax(dim=dims, keepdim=True).clamp_min(0)
    scale = ((hi - lo) / 255.0).clamp_min(1e-12)
    zero = torch.round(-lo / scale).clamp(0, 255)
    return (_round(x / scale) + zero).clamp(0, 255).sub(zero) * scale


def _absmax(packed: list[nn.Linear], per_channel: bool) -> Callable[[torch.Tensor], torch.Tensor]:
    """The absolute maximum a weight's scale comes from: its own rows', or the whole packed weight's."""
    if per_channel:
        return lambda w: w.detach().abs().amax(dim=1, keepdim=True)
    return lambda w: torch.stack([m.weight.detach().abs().max() for m in packed]).max()


def _linear(module: nn.Linear, absmax: Callable, levels: int) -> Callable:
    def forward(x: torch.Tensor) -> torch.Tensor:
        return F.linear(uint8_dynamic(x), int8_weight(module.weight, absmax(module.weight), levels), module.bias)

    return forward


def _embedding(module: nn.Embedding) -> Callable:
    def forward(ids: torch.Tensor) -> torch.Tensor:
        table = uint8_dynamic(module.weight, per_row=False)
        return F.embedding(ids, table, module.padding_idx, module.max_norm, module.norm_type)

    return forward


def _layer_norm(module: nn.LayerNorm) -> Callable:
    def forward(x: torch.Tensor) -> torch.Tensor:
        weight, bias = (uint8_dynamic(p, per_row=False) for p in (module.weight, module.bias))
        return F.layer_norm(x, module.normalized_shape, weight, bias, module.eps)

    return forward


def _embedding_norms(model: nn.Module) -> set[int]:
    """The LayerNorms EmbedLayerNormalization takes in (its gamma and beta are stored as uint8 too)."""
    found = (
        getattr(m, "LayerNorm", None)
        for m in model.modules()
        if isinstance(getattr(m, "word_embeddings", None), nn.Embedding)
    )
    return {id(norm) for norm in found if isinstance(norm, nn.LayerNorm)}


def _qkv_groups(model: nn.Module) -> dict[int, list[nn.Linear]]:
    """id(linear) -> the Q, K and V projections packed with it into one QAttention weight."""
    groups: dict[int, list[nn.Linear]] = {}
    for module in model.modules():
        parts = [getattr(module, n, None) for n in ("query", "key", "value")]
        if all(isinstance(p, nn.Linear) for p in parts):
            groups.update({id(p): parts for p in parts})
    return groups


@contextlib.contextmanager
def simulated(
    model: nn.Module, per_channel: bool = False, fused: bool = True, reduce_range: bool = False
) -> Iterator[int]:
    """Within the block, `model`'s Linear and Embedding layers compute as ORT's dynamic INT8 will (`fused`: Q, K
    and V share a per-tensor scale, as in QAttention; `reduce_range`: 7-bit weights, [-64, 64]). Yields how many
    layers are simulated. Parameters, state dict and module tree are unchanged: only the instances' `forward` is
    replaced, and restored on exit."""
    groups = _qkv_groups(model) if fused and not per_channel else {}
    norms = _embedding_norms(model) if fused else set()
    levels = 64 if reduce_range else 127
    changed: list[nn.Module] = []
    try:
        for module in model.modules():
            if isinstance(module, nn.Linear):
                module.forward = _linear(module, _absmax(groups.get(id(module), [module]), per_channel), levels)
            elif isinstance(module, nn.Embedding):
                module.forward = _embedding(module)
            elif id(module) in norms:
                module.forward = _layer_norm(module)
            else:
                continue
            changed.append(module)
        yield len(changed)
    finally:
        for module in changed:
            del module.forward
