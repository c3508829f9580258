"""Distill stage: a shallower student initialised from chosen teacher layers, trained against the teacher with
edgebert.training.losses.distill_loss (the task's loss and output term, hidden states, attention).
Student layer k copies teacher layer `layers[k]` (0-based); width stays the teacher's, so no projections.
It does not prune or narrow the model (that is the prune stage's job).

    >>> pick_layers(6, 3)
    [1, 3, 5]
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from edgebert.data import Dataset
from edgebert.errors import RecipeError
from edgebert.recipe import DistillConfig
from edgebert.recipe.training import FromTeacher

if TYPE_CHECKING:  # torch is imported by the stages that train, not by recipe validation
    from edgebert.tasks import Task
    from edgebert.training.loop import Encoded

_LAYER = re.compile(r"^(.*\.(?:layer|layers))\.(\d+)\.(.*)$")


def pick_layers(teacher_layers: int, n: int) -> list[int]:
    """n teacher layers spread evenly, always ending at the last one: (6, 3) -> [1, 3, 5], (12, 4) -> [2, 5, 8, 11]."""
    return [round((i + 1) * teacher_layers / n) - 1 for i in range(n)]


def build_student(task: Task, teacher, cfg: DistillConfig):
    """A copy of the teacher keeping only the chosen layers, weights copied; returns (student, layers)."""
    config = teacher.config
    n_teacher = config.num_hidden_layers
    layers = list(cfg.layers) if cfg.layers is not None else pick_layers(n_teacher, cfg.num_layers)
    if layers[-1] >= n_teacher or layers[0] < 0:
        raise RecipeError(f"distill.layers {layers}: the teacher has layers 0..{n_teacher - 1}")
    if len(layers) >= n_teacher:
        raise RecipeError(f"distill keeps {len(layers)} of the teacher's {n_teacher} layers: choose fewer")
    student_config = type(config).from_dict({**config.to_dict(), "num_hidden_layers": len(layers)})
    student_config._attn_implementation = "eager" if cfg.losses.attention > 0 else config._attn_implementation
    student = task.model_from_config(student_config)
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


def run_distill(task: Task, cfg: DistillConfig, data: Dataset, teacher_dir: Path, out: Path, ctx) -> dict:
    """Distil the teacher in `teacher_dir` into `out`; `ctx` gives max_length, model options and the reporter."""
    from transformers import AutoTokenizer

    from edgebert.training.loop import Splits, fit

    needs_attention = cfg.losses.attention > 0
    teacher = task.load_model(teacher_dir, ctx.model_options, eager_attention=needs_attention)
    teacher.eval()
    tokenizer = AutoTokenizer.from_pretrained(teacher_dir)
    student, layers = build_student(task, teacher, cfg)
    max_length = ctx.recipe.data.max_length
    splits = Splits(
        training_set(task, tokenizer, data, cfg, ctx, "distill"),
        task.encode(tokenizer, data.eval, data, max_length),
        tokenizer,
        task,
    )
    step_loss = teacher_loss(task, teacher, layers, cfg)
    init_score = splits.dev_score(student)
    result = fit(student, splits, cfg, step_loss, ctx.reporter, "distill", ctx.checkpoints, ctx.recipe.training)
    student.config._attn_implementation = None  # the saved student should pick the fastest kernel when loaded
    student.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    metric = f"dev_{task.DEV_METRIC}"
    return {
        "layers": layers,
        "parameters": sum(p.numel() for p in student.parameters()),
        f"{metric}_at_init": init_score,
        metric: result.best_score,
        "best_epoch": result.best_epoch,
        "history": result.history,
        "training": result.where,
        "teacher_cache": step_loss.cache.stats(),
        "train_sentences": len(splits.train),
    }


def training_set(task: Task, tokenizer, data: Dataset, cfg: FromTeacher, ctx, field: str) -> Encoded:
    """The train split (its first `max_train_samples`), then the `unlabelled` sentences and the `augment`ed copies
    of the train sentences, which the student learns from the teacher's outputs alone (the task encodes them with
    labels its task loss skips). Repeated sentences, and those the train split already holds, are shown once. A
    split whose rewrites keep their labels (tagged sentences: `rewritten`) gives labelled copies instead."""
    from edgebert.data.augment import augment, whole_sentences
    from edgebert.data.texts import read_texts
    from edgebert.training.loop import Encoded

    max_length = ctx.recipe.data.max_length
    train = data.train.head(cfg.max_train_samples)
    labelled = task.encode(tokenizer, train, data, max_length)
    rewrite = getattr(train, "rewritten", None)  # tagged sentences: their copies keep the labels
    text_copies = cfg.augment if rewrite is None else None
    if cfg.augment and rewrite is not None:
        copies = rewrite(cfg.augment, tokenizer.mask_token)
        ctx.reporter.info(f"  {field}: {len(copies):,} rewritten copies of the train sentences, labels kept")
        labelled = Encoded(labelled.features + task.encode(tokenizer, copies, data, max_length).features)
    if not cfg.unlabelled and not text_copies:
        return labelled
    texts = read_texts(cfg.unlabelled, ctx.recipe.path, f"{field}.unlabelled") if cfg.unlabelled else []
    if text_copies:
        a = text_copies
        source = train.examples
        if a.whole_only and source and isinstance(source[0], str):  # pairs are whole as they are
            source = whole_sentences(source)
        texts += augment(source, a.copies, a.seed, a.mask, a.replace, a.ngram, tokenizer.mask_token, a.swap)
    texts = [t.strip() if isinstance(t, str) else t for t in texts]  # a pair (text, text_pair) stays as read
    seen = set(train.examples)
    texts = [t for t in dict.fromkeys(t for t in texts if t) if t not in seen]
    kind = "labelled" if task.LABELLED else "corpus"
    what = " and augmented" if text_copies else ""
    ctx.reporter.info(f"  {field}: {len(labelled):,} {kind} and {len(texts):,} unlabelled{what} sentences")
    if not texts:  # every one of them is a train sentence
        return labelled
    return Encoded(labelled.features + task.encode_unlabelled(tokenizer, texts, max_length).features)


def teacher_loss(task: Task, teacher, layers: list[int], cfg, heads=None, cache=None):
    """step_loss(student, batch) for fit: the teacher's outputs (computed once per sentence while they fit in
    `cfg.teacher_cache_gb`, edgebert.training.teacher_cache; pass `cache` to share one between fits) and the
    student's, through distill_loss. The returned function's `cache` is that cache."""
    from edgebert.training.losses import distill_loss
    from edgebert.training.teacher_cache import TeacherCache

    wants = dict(output_hidden_states=cfg.losses.hidden > 0, output_attentions=cfg.losses.attention > 0)
    hidden = [0] + [layer + 1 for layer in layers] if wants["output_hidden_states"] else []
    if cache is None:
        attention = list(layers) if wants["output_attentions"] else []
        target = lambda out, mask: task.distill_target(teacher.config, out, mask)  # noqa: E731
        cache = TeacherCache(teacher, hidden, attention, cfg.teacher_cache_gb, target)

    def step_loss(student, batch):
        targets = {"labels": batch.pop("labels"), "attention_mask": batch["attention_mask"]}
        t_out = cache(batch)
        s_out = student(**batch, **wants)
        config = getattr(student, "module", student).config  # under DDP, the wrapped model's
        return distill_loss(task, s_out, t_out, targets, layers, cfg, heads, config)

    step_loss.cache = cache
    return step_loss
