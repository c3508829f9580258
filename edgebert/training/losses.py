"""The distillation loss distillation and pruning recovery train with:

    loss = w_labels * task loss (e.g. CE on the labels)
         + the task's output term (e.g. w_logits * T^2 * KL(teacher/T || student/T) on logits)
         + w_hidden * MSE(hidden states of mapped layers, embeddings included)
         + w_attention * KL(teacher attention || student attention) on mapped layers   (TinyBERT / MiniLM style)

The hidden-state and attention terms are the same for every task; the first two come from the task module.
Student layer k is mapped to teacher layer `layers[k]` (0-based). It trains nothing itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from edgebert.recipe import DistillConfig, RecoverConfig

if TYPE_CHECKING:
    from edgebert.tasks import Task


def distill_loss(
    task: Task,
    student_out,
    teacher_out,
    batch: dict,
    layers: list[int],
    cfg: DistillConfig | RecoverConfig,
    heads: list[list[int]] | None = None,
    student_config=None,
) -> torch.Tensor:
    """The weighted loss; `batch` holds the labels and attention mask; `heads[k]` lists the teacher heads student
    layer k still has (after pruning). `teacher_out.logits` holds the teacher's distill_target (the teacher cache
    puts it there); the student's is taken from `student_out` with `student_config`."""
    w = cfg.losses
    loss = w.labels * task.task_loss(student_out, batch)
    if w.logits:
        student = task.distill_target(student_config, student_out, batch["attention_mask"])
        loss = loss + task.output_loss(student, teacher_out.logits, batch, cfg)
    mask = batch["attention_mask"]
    valid = mask.unsqueeze(-1).to(torch.float32)
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
