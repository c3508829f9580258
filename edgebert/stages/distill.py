"""Distill stage: a shallower student initialised from chosen teacher layers, trained against the teacher.

Loss = w_labels * CE(labels) + w_logits * T^2 * KL(teacher/T || student/T)
     + w_hidden * MSE(hidden states of mapped layers, embeddings included)
     + w_attention * KL(teacher attention || student attention) on mapped layers   (TinyBERT / MiniLM style).
Student layer k copies teacher layer `layers[k]` (0-based); width stays the teacher's, so no projections.
It does not prune or narrow the model (that is the prune stage's job).

    >>> pick_layers(6, 3)
    [1, 3, 5]
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
import torch.nn.functional as F

from edgebert.data import Dataset
from edgebert.errors import RecipeError
from edgebert.recipe import DataConfig, DistillConfig, RecoverConfig
from edgebert.reporting import Reporter

_LAYER = re.compile(r"^(.*\.(?:layer|layers))\.(\d+)\.(.*)$")


def pick_layers(teacher_layers: int, n: int) -> list[int]:
    """n teacher layers spread evenly, always ending at the last one: (6, 3) -> [1, 3, 5], (12, 4) -> [2, 5, 8, 11]."""
    return [round((i + 1) * teacher_layers / n) - 1 for i in range(n)]


def build_student(teacher, cfg: DistillConfig):
    """A copy of the teacher keeping only the chosen layers, weights copied; returns (student, layers)."""
    from transformers import AutoModelForSequenceClassification

    config = teacher.config
    n_teacher = config.num_hidden_layers
    layers = list(cfg.layers) if cfg.layers is not None else pick_layers(n_teacher, cfg.num_layers)
    if layers[-1] >= n_teacher or layers[0] < 0:
        raise RecipeError(f"distill.layers {layers}: the teacher has layers 0..{n_teacher - 1}")
    if len(layers) >= n_teacher:
        raise RecipeError(f"distill keeps {len(layers)} of the teacher's {n_teacher} layers: choose fewer")
    student_config = type(config).from_dict({**config.to_dict(), "num_hidden_layers": len(layers)})
    student_config._attn_implementation = "eager" if cfg.losses.attention > 0 else config._attn_implementation
    student = AutoModelForSequenceClassification.from_config(student_config)
    source = {layer: k for k, layer in enumerate(layers)}
    state = {}
    for name, tensor in teacher.state_dict().items():
        m = _LAYER.match(name)
        if m is None:
            state[name] = tensor
        elif int(m.group(2)) in source:
            state[f"{m.group(1)}.{source[int(m.group(2))]}.{m.group(3)}"] = tensor
    missing, unexpected = student.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise RecipeError(f"cannot map teacher layers onto the student ({config.model_type}): missing {missing[:3]}")
    return student, layers


def distill_loss(
    student_out,
    teacher_out,
    labels: torch.Tensor,
    mask: torch.Tensor,
    layers: list[int],
    cfg: DistillConfig | RecoverConfig,
    heads: list[list[int]] | None = None,
) -> torch.Tensor:
    """The weighted loss; `heads[k]` lists the teacher heads student layer k still has (after pruning)."""
    w, t = cfg.losses, cfg.temperature
    loss = w.labels * F.cross_entropy(student_out.logits, labels)
    if w.logits:
        soft = F.kl_div(
            F.log_softmax(student_out.logits / t, -1),
            F.log_softmax(teacher_out.logits / t, -1),
            reduction="batchmean",
            log_target=True,
        )
        loss = loss + w.logits * t * t * soft
    valid = mask.unsqueeze(-1).to(student_out.logits.dtype)
    if w.hidden:
        pairs = [(0, 0)] + [(k + 1, layer + 1) for k, layer in enumerate(layers)]
        mse = sum(
            ((student_out.hidden_states[s] - teacher_out.hidden_states[h]) ** 2 * valid).sum() for s, h in pairs
        ) / (valid.sum() * student_out.hidden_states[0].shape[-1] * len(pairs))
        loss = loss + w.hidden * mse
    if w.attention:
        query = mask[:, None, :, None].to(valid.dtype)  # ignore padded query rows
        kl = 0.0
        for k, layer in enumerate(layers):
            p_t, p_s = teacher_out.attentions[layer], student_out.attentions[k]
            if heads is not None:
                p_t = p_t[:, heads[k]]
            kl = kl + (p_t * (p_t.clamp_min(1e-12).log() - p_s.clamp_min(1e-12).log()) * query).sum()
        rows = sum(a.shape[1] for a in student_out.attentions[: len(layers)])
        loss = loss + w.attention * kl / (query.sum() * rows)
    return loss


def run_distill(
    cfg: DistillConfig, data_cfg: DataConfig, data: Dataset, teacher_dir: Path, out: Path, reporter: Reporter
) -> dict:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from edgebert.stages.training import accuracy, encode, fit

    needs_attention = cfg.losses.attention > 0
    teacher = AutoModelForSequenceClassification.from_pretrained(
        teacher_dir, use_safetensors=True, attn_implementation="eager" if needs_attention else None
    )
    teacher.eval()
    tokenizer = AutoTokenizer.from_pretrained(teacher_dir)
    student, layers = build_student(teacher, cfg)
    train_split = data.train.head(cfg.max_train_samples)
    train = encode(tokenizer, train_split.texts, data.label_ids(train_split), data_cfg.max_length)
    dev = encode(tokenizer, data.eval.texts, data.label_ids(data.eval), data_cfg.max_length)
    wants = dict(output_hidden_states=cfg.losses.hidden > 0, output_attentions=needs_attention)

    def step_loss(batch):
        labels = batch.pop("labels")
        with torch.no_grad():
            t_out = teacher(**batch, **wants)
        s_out = student(**batch, **wants)
        return distill_loss(s_out, t_out, labels, batch["attention_mask"], layers, cfg)

    init_acc = accuracy(student, dev, tokenizer)
    result = fit(student, train, dev, tokenizer, cfg, step_loss, reporter, "distill")
    student.config._attn_implementation = None  # the saved student should pick the fastest kernel when loaded
    student.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return {
        "layers": layers,
        "parameters": sum(p.numel() for p in student.parameters()),
        "dev_accuracy_at_init": init_acc,
        "dev_accuracy": result.best_accuracy,
        "best_epoch": result.best_epoch,
        "history": result.history,
    }
